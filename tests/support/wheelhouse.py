"""Build tiny, valid pure-Python wheels for tests: no network, no setuptools, milliseconds each.

    build_wheel(dest, "hello", "1.0", requires=["greet>=2"],
                console_scripts={"hello": "hello:main"})

writes `dest/hello-1.0-py2.py3-none-any.whl` with METADATA, WHEEL, entry_points.txt and a
RECORD holding correct hashes, so any pip from 7.0.1 to today installs it. Files are written
with fixed timestamps: the same arguments always give byte-identical wheels.
"""

from __future__ import annotations

import base64
import hashlib
import re
import zipfile
from collections.abc import Iterable, Mapping
from pathlib import Path

_EPOCH = (2015, 6, 1, 0, 0, 0)  # fixed: identical input gives identical bytes


def normalize(name: str) -> str:
    """PEP 503 name normalisation ("Foo_Bar.baz" -> "foo-bar-baz")."""
    return re.sub(r"[-_.]+", "-", name).lower()


def wheel_name(name: str, version: str, tag: str = "py2.py3-none-any") -> str:
    """The file name pip expects for this project (PEP 427 escaping)."""
    return f"{_escape(name)}-{_escape(version)}-{tag}.whl"


def build_wheel(
    dest_dir: Path,
    name: str,
    version: str,
    requires: Iterable[str] = (),
    modules: Mapping[str, str] | None = None,
    console_scripts: Mapping[str, str] | None = None,
    *,
    requires_python: str | None = None,
    summary: str = "A test package built by tests/support/wheelhouse.py",
    tag: str = "py2.py3-none-any",
    extra_files: Mapping[str, bytes | str] | None = None,
) -> Path:
    """Write a wheel for `name==version` into `dest_dir` and return its path.

    `modules` maps paths inside site-packages to source text. A key without "/" and without
    ".py" is a module name ("hello" -> "hello.py", "pkg.mod" -> "pkg/mod.py"). Default: a
    package named after the project whose `__init__.py` sets `__version__`.
    `console_scripts` maps script names to "module:function" entry points.
    `extra_files` adds arbitrary files (paths inside site-packages) such as data files.
    """
    dest_dir.mkdir(parents=True, exist_ok=True)
    dest_dir.chmod(0o755)  # a wheelhouse sandboxed builds read as their app's own uid
    import_name = re.sub(r"[^0-9A-Za-z_]", "_", name).lower()
    if modules is None:
        modules = {f"{import_name}/__init__.py": f'__version__ = "{version}"\n'}
    files: dict[str, bytes] = {}
    for key, text in modules.items():
        files[_module_path(key)] = text.encode("utf-8")
    for path, content in (extra_files or {}).items():
        files[path] = content.encode("utf-8") if isinstance(content, str) else content

    dist_info = f"{_escape(name)}-{_escape(version)}.dist-info"
    metadata = [
        "Metadata-Version: 2.1",
        f"Name: {name}",
        f"Version: {version}",
        f"Summary: {summary}",
    ]
    if requires_python:
        metadata.append(f"Requires-Python: {requires_python}")
    metadata.extend(f"Requires-Dist: {req}" for req in requires)
    files[f"{dist_info}/METADATA"] = ("\n".join(metadata) + "\n\n").encode()
    files[f"{dist_info}/WHEEL"] = (
        f"Wheel-Version: 1.0\nGenerator: cedarbox-tests\nRoot-Is-Purelib: true\nTag: {tag}\n\n"
    ).encode()
    if console_scripts:
        lines = ["[console_scripts]"]
        lines.extend(f"{script} = {target}" for script, target in console_scripts.items())
        files[f"{dist_info}/entry_points.txt"] = ("\n".join(lines) + "\n").encode()
    top_level = sorted({path.split("/")[0].removesuffix(".py") for path in modules_paths(files)})
    files[f"{dist_info}/top_level.txt"] = ("\n".join(top_level) + "\n").encode()

    record_path = f"{dist_info}/RECORD"
    record = [f"{path},sha256={_digest(data)},{len(data)}" for path, data in files.items()]
    record.append(f"{record_path},,")
    files[record_path] = ("\n".join(record) + "\n").encode()

    target = dest_dir / wheel_name(name, version, tag)
    tmp = target.with_suffix(".tmp")
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zf:
        for path, data in files.items():
            info = zipfile.ZipInfo(path, date_time=_EPOCH)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, data)
    tmp.replace(target)
    return target


def modules_paths(files: Mapping[str, bytes]) -> list[str]:
    """The paths of a wheel's importable files (everything outside its .dist-info)."""
    return [path for path in files if ".dist-info/" not in path and path.endswith(".py")]


def _module_path(key: str) -> str:
    if "/" in key or key.endswith(".py"):
        return key
    return key.replace(".", "/") + ".py"


def _escape(part: str) -> str:
    return re.sub(r"[^\w\d.]+", "_", part, flags=re.UNICODE).replace("-", "_")


def _digest(data: bytes) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
