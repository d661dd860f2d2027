"""Bare app repositories: created with dulwich, configured for receive-pack, hooked up."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

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
    # Imported here: the pre-receive hook imports this module (through gitserver.platform)
    # but never creates a repository, and dulwich would cost its first line ~35 ms.
    from dulwich.refs import Ref
    from dulwich.repo import Repo

    path.parent.mkdir(parents=True, exist_ok=True)
    repo = Repo.init_bare(str(path), mkdir=True)
    repo.refs.set_symbolic_ref(Ref(b"HEAD"), Ref(b"refs/heads/main"))
    config = repo.get_config()
    for (section, key), value in _GIT_CONFIG.items():
        config.set(section, key, value)
    config.write_to_path()
    repo.close()
    _set_config(path, "cedarbox.app", app)
    _set_config(path, "cedarbox.dataDir", str(data_dir))
    install_hooks(path)


def _set_config(path: Path, key: str, value: str) -> None:
    """Set one key in the repository's config with git, which quotes any value correctly.

    The hook reads these keys back with git. dulwich's writer leaves a `;` unquoted, and git
    reads it as the start of a comment: a data dir `/srv/a;b` would come back as `/srv/a`.
    """
    subprocess.run(
        ["git", "config", "--file", os.fspath(path / "config"), key, value],
        check=True,
        capture_output=True,
    )


def install_hooks(path: Path) -> None:
    """Copy our hooks into the repository, recording which Python runs them."""
    _set_config(path, "cedarbox.python", sys.executable)
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
