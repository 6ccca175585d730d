"""`mlcycle serve`: run the HTTP server of a package under uvicorn."""

from __future__ import annotations

import logging
import os
import sys

from mlcycle import registry
from mlcycle.config import ConfigError, load

TOKEN_ENV = "MLCYCLE_ADMIN_TOKEN"


SWITCH_INTERVAL_S = 0.0005


def serve(package: str | None, host: str | None, port: int | None, overrides: list[str]) -> int:
    """Serve `package` (default paths.package) on host:port (default serve.host/port)."""
    import uvicorn

    from mlcycle.serve.app import create_app

    try:
        params = load(overrides)
    except ConfigError as e:
        print(f"[serve] error: {e}", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="[serve] %(message)s")
    package = package or params.paths.package
    if registry.is_reference(package):  # keywords@prod: the registry's folder of it
        try:
            found = registry.resolve(package, ".", params.serve.package_roots[0])
        except registry.RegistryError as e:
            print(f"[serve] error: {e}", file=sys.stderr)
            return 2
        logging.getLogger("mlcycle.serve").info(
            "%s is %s (git %s): serving %s", package, found.reference, found.rev[:12], found.path
        )
        package = found.path
    token = os.environ.get(TOKEN_ENV) or None
    # The log's and the batches' threads hold the GIL for up to the switch interval (5 ms
    # by default) while a request waits on the event loop: 0.5 ms measured 5 % more
    # answers/s at one client and 25 % at 32 (benchmarks/serve_load.py, A/B on 2 cores).
    sys.setswitchinterval(SWITCH_INTERVAL_S)
    if token is None:
        logging.getLogger("mlcycle.serve").info("admin API off: set %s to enable it", TOKEN_ENV)
    app = create_app(
        package,
        params.serve,
        params.paths.rollout,
        token,
        monitor=params.monitor,
        inputs_dir=params.paths.logged_inputs,
        outages_path=params.paths.log_outages,
    )
    uvicorn.run(
        app,
        host=host or params.serve.host,
        port=port if port is not None else params.serve.port,
        access_log=False,
        log_level="info",
        limit_concurrency=params.serve.max_connections,
    )
    return 0
