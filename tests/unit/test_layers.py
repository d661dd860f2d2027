"""Imports point one way: each gitserver module imports only its own layer and those below.

The layers are README.md's "For developers" walk through one push, bottom first.
"""

from __future__ import annotations

import ast
from pathlib import Path

import gitserver

LAYERS: tuple[tuple[str, ...], ...] = (
    # leaf modules every layer may use
    ("errors", "output", "settings", "datadir", "appnames", "configvars", "locks", "trash",
     "records", "applog", "formation", "serverinfo", "processes", "tls", "sandbox", "cgroups"),
    ("store", "sqlitestore", "sqliteschema", "views"),  # state and its JSON shapes
    ("repos", "pipeline", "buildpacks", "postgres", "addons"),  # what a deploy uses
    ("platform", "runner"),  # app operations; the dynos
    ("deploy", "localbuild"),  # one push, from lock to release
    ("receive", "web"),  # the hook; the HTTP front end and router
    ("cli", "serve", "__main__", "testing"),  # the program's edges; the pytest plugin
)  # fmt: skip
ROOT = Path(gitserver.__file__).parent


def layer(module: str) -> int:
    """The layer of `gitserver.X…` (by X), e.g. gitserver.runner.supervisor → 3."""
    top = module.split(".")[1]
    for i, names in enumerate(LAYERS):
        if top in names:
            return i
    raise AssertionError(f"{module} has no layer: add it to LAYERS (and README's walk)")


def imports(path: Path) -> set[str]:
    """The gitserver modules a file imports (at any depth of the file)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("gitserver"):
            if node.module == "gitserver":  # `from gitserver import repos`; not __version__
                found.update(f"gitserver.{a.name}" for a in node.names if a.name != "__version__")
            else:
                found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("gitserver."))
    return found


def module_name(path: Path) -> str:
    parts = ("gitserver", *path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def test_every_module_has_a_layer() -> None:
    for path in ROOT.rglob("*.py"):
        name = module_name(path)
        if name != "gitserver":
            layer(name)


def test_imports_point_down() -> None:
    upward = [
        f"{module_name(path)} imports {target}"
        for path in ROOT.rglob("*.py")
        if module_name(path) != "gitserver"
        for target in imports(path)
        if layer(target) > layer(module_name(path))
    ]
    assert upward == []


def test_the_pipeline_does_not_know_its_buildpacks() -> None:
    """Buildpacks implement the pipeline's interface; the deploy chooses them by setting."""
    pipeline = [p for p in (ROOT / "pipeline").rglob("*.py")]
    assert pipeline
    offending = [
        f"{module_name(p)} imports {t}"
        for p in pipeline
        for t in imports(p)
        if t.startswith("gitserver.buildpacks")
    ]
    assert offending == []
