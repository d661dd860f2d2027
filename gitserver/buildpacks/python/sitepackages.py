"""What an environment has installed, read from its metadata files (no pip subprocess)."""

from __future__ import annotations

import os
from pathlib import Path

from gitserver.buildpacks.python.requirements import normalize

# Not listed by `pip freeze`, and never "stale": the platform owns them.
PLATFORM_PACKAGES = frozenset({"pip", "setuptools", "wheel", "distribute"})


def site_packages(env_dir: Path) -> Path | None:
    """The environment's site-packages (CPython venv/virtualenv layout, or PyPy's)."""
    candidates = [*sorted(env_dir.glob("lib/*/site-packages")), env_dir / "site-packages"]
    return next((c for c in candidates if c.is_dir()), None)


def module_available(env_dir: Path, module: str) -> bool:
    """Whether `import module` would find a top-level module in the environment (no subprocess)."""
    site = site_packages(env_dir)
    if site is None:
        return False
    if (site / module).is_dir():
        return True
    return any(site.glob(f"{module}.py")) or any(site.glob(f"{module}.*.so"))


def installed_version(env_dir: Path, name: str) -> str | None:
    """The installed version of distribution `name`, from its dist-info/egg-info directory."""
    site = site_packages(env_dir)
    if site is None:
        return None
    wanted = normalize(name)
    for meta_name, version in _distributions(site):
        if normalize(meta_name) == wanted:
            return version
    return None


def installed_packages(site: Path) -> list[str]:
    """`pip freeze`-like "name==version" lines, read from metadata files (no pip subprocess)."""
    seen: dict[str, str] = {}
    for name, version in _distributions(site):
        key = normalize(name)
        if key not in PLATFORM_PACKAGES:
            seen.setdefault(key, f"{name}=={version}")
    return [seen[k] for k in sorted(seen)]


def _distributions(site: Path) -> list[tuple[str, str]]:
    """(name, version) of every distribution in site-packages, from its metadata headers."""
    found = []
    try:
        entries = sorted(os.scandir(site), key=lambda e: e.name)
    except OSError:
        return []
    for entry in entries:
        meta: Path | None = None
        path = Path(entry.path)
        if entry.name.endswith(".dist-info"):
            meta = path / "METADATA"
        elif entry.name.endswith(".egg-info"):
            meta = path / "PKG-INFO" if entry.is_dir() else path
        elif entry.name.endswith(".egg-link"):
            meta = _egg_link_metadata(path)
        headers = _headers(meta) if meta is not None else None
        if headers:
            found.append(headers)
    return found


def _egg_link_metadata(link: Path) -> Path | None:
    """An old-style editable install (`pip install -e`): the egg-info in the source tree."""
    try:
        source = Path(link.read_text().splitlines()[0].strip())
    except (OSError, IndexError):
        return None
    return next(iter(sorted(source.glob("*.egg-info/PKG-INFO"))), None)


def _headers(meta: Path) -> tuple[str, str] | None:
    name = version = None
    try:
        with open(meta, encoding="utf-8", errors="replace") as f:
            for line in f:
                if not line.strip():
                    break
                key, _, value = line.partition(":")
                if key == "Name":
                    name = value.strip()
                elif key == "Version":
                    version = value.strip()
                if name and version:
                    break
    except OSError:
        return None
    return (name, version) if name and version else None
