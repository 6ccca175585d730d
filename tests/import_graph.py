"""The mlcycle source files a module imports, transitively, read from the code itself."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from omegaconf import OmegaConf

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"


def module_file(name: str) -> Path | None:
    base = SRC / Path(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def imported_modules(path: Path) -> list[str]:
    """Every mlcycle module `path` imports, at the top or inside a function."""
    names = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("mlcycle"):
            # `from mlcycle.data import digits` imports the submodule digits
            names += [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            names += [a.name for a in node.names if a.name.startswith("mlcycle")]
    return names


def parents(name: str) -> list[str]:
    """Importing a.b.c runs a/__init__ and a/b/__init__ first."""
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


def config_targets(conf: Path = ROOT / "conf") -> set[str]:
    """Modules of the mlcycle `_target_`s in conf/ (built by hydra.utils.instantiate)."""
    targets = set()
    for path in conf.rglob("*.yaml"):
        cfg = OmegaConf.to_container(OmegaConf.load(path))
        target = cfg.get("_target_", "") if isinstance(cfg, dict) else ""
        if target.startswith("mlcycle."):
            targets.add(target.rsplit(".", 1)[0])
    return targets


def modality_parts(text: str) -> list[str]:
    """The modules a file asks mlcycle.modalities for: `modality(name, "<part>")` imports
    <folder>.<part> of whichever modality the task names, so each registered one's."""
    from mlcycle.modalities import REGISTRY

    call = r'modality(?:_part)?\(\s*[^,()]+(?:\([^()]*\))?[^,()]*,\s*"(\w+)"\s*\)'
    parts = re.findall(call, text)
    return [f"{folder}.{part}" for part in sorted(set(parts)) for folder in REGISTRY.values()]


def closure(module: str) -> set[Path]:
    """The source files `module` runs: its imports, theirs, the modality parts it asks
    for, and, where one of them calls hydra's instantiate, every mlcycle class conf/ can
    name as a `_target_`."""
    seen: set[Path] = set()
    todo = [module, *parents(module)]
    while todo:
        path = module_file(todo.pop())
        if path is None or path in seen:
            continue
        seen.add(path)
        names = imported_modules(path) + modality_parts(path.read_text())
        if "instantiate(" in path.read_text():
            names += sorted(config_targets())
        for name in names:
            todo += [name, *parents(name)]
    return seen


def carries_code(path: Path) -> bool:
    """False for a package __init__ that holds only a docstring and constants."""
    tree = ast.parse(path.read_text())
    return any(not isinstance(n, ast.Expr | ast.Assign) for n in tree.body)
