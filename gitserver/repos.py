"""Bare app repositories: created with dulwich, configured for receive-pack, hooked up."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from dulwich.repo import Repo

HOOK_NAMES = ("pre-receive",)

# receive-pack settings every app repository needs.
_GIT_CONFIG: dict[tuple[bytes, bytes], bytes] = {
    # http-backend only runs receive-pack for anonymous users when this is on; the front end
    # does authentication itself.
    (b"http", b"receivepack"): b"true",
    (b"receive", b"advertisePushOptions"): b"true",
    # Let pushes that need new shallow roots reach the hook, which refuses them with advice.
    (b"receive", b"shallowUpdate"): b"true",
    (b"gc", b"auto"): b"0",
}


def hooks_source_dir() -> Path:
    """Our hooks/ directory: beside the package in a checkout, or installed as data files."""
    checkout = Path(__file__).resolve().parent.parent / "hooks"
    if (checkout / "pre-receive").is_file():
        return checkout
    return Path(sys.prefix) / "share" / "cedarbox" / "hooks"


def create_repo(path: Path, *, app: str, data_dir: Path) -> None:
    """Create a bare repository whose HEAD names `main`, with our hooks installed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    repo = Repo.init_bare(str(path), mkdir=True)
    repo.refs.set_symbolic_ref(b"HEAD", b"refs/heads/main")
    config = repo.get_config()
    for (section, key), value in _GIT_CONFIG.items():
        config.set(section, key, value)
    config.set(b"cedarbox", b"app", app.encode())
    config.set(b"cedarbox", b"dataDir", str(data_dir).encode())
    config.write_to_path()
    repo.close()
    install_hooks(path)


def install_hooks(path: Path) -> None:
    """Copy our hooks into the repository, recording which Python runs them."""
    repo = Repo(str(path))
    config = repo.get_config()
    config.set(b"cedarbox", b"python", sys.executable.encode())
    config.write_to_path()
    repo.close()
    hooks_dir = path / "hooks"
    hooks_dir.mkdir(exist_ok=True)
    for name in HOOK_NAMES:
        target = hooks_dir / name
        tmp = target.with_suffix(".tmp")
        shutil.copyfile(hooks_source_dir() / name, tmp)
        tmp.chmod(0o755)
        tmp.replace(target)


def remove_repo(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


def set_head(path: Path, branch: str) -> None:
    """Point HEAD at the branch that was deployed, so clones check it out."""
    (path / "HEAD").write_text(f"ref: refs/heads/{branch}\n")
