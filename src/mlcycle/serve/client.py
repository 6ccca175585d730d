"""`mlcycle canary ...`: the admin API of a running server, from the command line."""

from __future__ import annotations

import json
import os
import sys
from typing import Any

import httpx

from mlcycle.serve.server import TOKEN_ENV


def call(url: str, method: str, path: str, body: dict[str, Any] | None = None) -> int:
    """One admin request; prints the server's answer (JSON), returns an exit code."""
    token = os.environ.get(TOKEN_ENV)
    if method == "POST" and not token:
        print(f"error: set {TOKEN_ENV} to the server's admin token", file=sys.stderr)
        return 2
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        response = httpx.request(method, url.rstrip("/") + path, json=body, headers=headers)
    except httpx.HTTPError as e:
        print(f"error: cannot reach {url}: {e}", file=sys.stderr)
        return 2
    try:
        answer = response.json()
    except ValueError:
        answer = {"detail": response.text}
    if response.status_code >= 400:
        print(f"error: {response.status_code}: {answer.get('detail', answer)}", file=sys.stderr)
        return 1
    print(
        json.dumps(answer.get("rollout", answer) if path.endswith("models") else answer, indent=2)
    )
    return 0


def canary(
    action: str,
    url: str,
    package: str | None,
    force: bool,
    weight: int | None,
    assign: str | None = None,
    repo: str = ".",
) -> int:
    if action == "promote" and assign:
        return promote_and_assign(url, assign, repo)
    if action == "status":
        return call(url, "GET", "/v1/models")
    if action == "start":
        return call(url, "POST", "/admin/canary", {"package": package, "force": force})
    if action == "weight":
        return call(url, "POST", "/admin/canary/weight", {"weight": weight})
    return call(url, "POST", f"/admin/canary/{action}")


def promote_and_assign(url: str, stage: str, repo: str) -> int:
    """Promote the canary, then move `stage` in the registry to its version (the canary
    must have come from the registry: `canary start name@version`)."""
    from mlcycle import registry

    try:
        models = httpx.get(url.rstrip("/") + "/v1/models").json()
    except (httpx.HTTPError, ValueError) as e:
        print(f"error: cannot reach {url}: {e}", file=sys.stderr)
        return 2
    reference = (models.get("canary") or {}).get("registry")
    if not models.get("canary"):
        print("error: no canary is rolling out", file=sys.stderr)
        return 1
    if reference is None:
        print(
            "error: the canary was not started from the registry (canary start name@version): "
            "there is no version to assign",
            file=sys.stderr,
        )
        return 1
    code = call(url, "POST", "/admin/canary/promote")
    if code:
        return code
    name, version = reference.split("@", 1)
    try:
        registry.assign(repo, name, version, stage)
    except registry.RegistryError as e:
        print(f"error: promoted, but {e}", file=sys.stderr)
        return 1
    print(f"assigned {stage} to {reference}")
    return 0
