"""The model registry on DVC's own terms: the package is an artifact in `dvc.yaml`
(`artifacts: keywords: {path: models/package, type: model}`), its versions and stages are
GTO git tags (`gto register keywords --version v1.3.0`, `gto assign keywords --version
v1.3.0 --stage prod`), which DVC Studio and `dvc artifacts get` read too.

`resolve("keywords@prod")` (or `keywords@v1.3.0`) finds the version through DVC's API
and brings the package's files out of the git revision and DVC's cache (or its remote)
into `<root>/registry/<name>/<version>/`, once: a folder already brought is reused. A
reference is `name@version` (v and a number: `v1.3.0`) or `name@stage`; anything else is
a package folder. RegistryError names what cannot be found.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

REFERENCE = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9_-]*)@(?P<spec>[A-Za-z0-9._#-]+)$")
VERSION = re.compile(r"^v\d")


class RegistryError(LookupError):
    """A registry reference that names no artifact, version or stage (or no registry)."""


@dataclass
class Resolved:
    path: str  # the package folder
    name: str
    version: str  # the GTO version (v1.3.0)
    stage: str | None  # the stage it was asked by, if any
    rev: str  # the git commit

    @property
    def reference(self) -> str:
        return f"{self.name}@{self.version}"


def is_reference(value: str) -> bool:
    """A registry reference rather than a package folder (an existing folder wins)."""
    return bool(REFERENCE.match(value)) and not Path(value).exists()


def resolve(reference: str, repo: str = ".", root: str = "models") -> Resolved:
    """The package folder of `reference` in the registry of git repository `repo`."""
    from dvc.api import artifacts_show
    from dvc.exceptions import DvcException
    from gto.exceptions import GTOException

    match = REFERENCE.match(reference)
    if match is None:
        raise RegistryError(f"{reference!r} is not a registry reference (name@version|stage)")
    name, spec = match["name"], match["spec"]
    by_version = bool(VERSION.match(spec))
    version, stage = (spec, None) if by_version else (None, spec)
    try:
        found = artifacts_show(name, version=version, stage=stage, repo=repo)
        if stage is not None:
            version = stage_version(repo, name, stage)
    except (DvcException, GTOException) as e:
        raise RegistryError(
            f"{reference}: {e} in the registry of {Path(repo).resolve()} "
            f"(`gto show {name}` lists its versions and stages)"
        ) from None
    out = Path(root) / "registry" / name / version
    if not (out / "card.json").exists():
        fetch(repo, name, version, out)
    return Resolved(str(out), name, version, stage, found["rev"])


def stage_version(repo: str, name: str, stage: str) -> str:
    from gto.api import find_versions_in_stage

    found = find_versions_in_stage(repo, name, stage)
    if not found:
        raise RegistryError(f"no version of {name!r} is in stage {stage!r}")
    return (found[0] if isinstance(found, list) else found).version


def fetch(repo: str, name: str, version: str, out: Path) -> None:
    """The artifact's files at `version`, written to a temporary folder and renamed into
    place (a fetch cut short leaves nothing that looks like a package)."""
    from dvc.exceptions import DvcException
    from dvc.repo.artifacts import Artifacts

    out.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{version}-"))
    try:
        Artifacts.get(str(Path(repo).resolve()), name, version=version, out=str(scratch / "p"))
        (scratch / "p").rename(out)
    except DvcException as e:
        raise RegistryError(f"{name}@{version}: cannot fetch its files: {e}") from None
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def assign(repo: str, name: str, version: str, stage: str) -> None:
    """Move `stage` to `version` of `name` (a GTO tag, as `gto assign` writes it)."""
    from gto.api import assign as gto_assign
    from gto.exceptions import GTOException

    try:
        gto_assign(repo, name, stage, version=version)
    except GTOException as e:
        raise RegistryError(f"cannot assign {stage} to {name}@{version}: {e}") from None


def reference_of(path: str) -> str | None:
    """`name@version` of a package folder that `resolve` brought, else None."""
    parts = Path(path).parts
    if len(parts) >= 3 and parts[-3] == "registry" and VERSION.match(parts[-1]):
        return f"{parts[-2]}@{parts[-1]}"
    return None
