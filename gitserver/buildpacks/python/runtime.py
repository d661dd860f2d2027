"""`.heroku/python`: the relocatable environment the slug runs, made from a host interpreter.

Heroku unpacks a prebuilt CPython into `.heroku/python`. cedarbox makes a virtual environment
from the host interpreter chosen by version.py instead: `python -m venv --without-pip` for
Python 3 (about 0.05 s), `virtualenv<20.22` for Python 2.7, which has no venv module (about
0.3 s). pip itself is installed by the packages step.

The slug is unpacked somewhere else than the build directory, so the environment must work
from any path: `bin/python` is a symlink to the host interpreter and `pyvenv.cfg` is found next
to it, and `make_relocatable` rewrites the absolute shebangs pip writes into console scripts.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import sys
from pathlib import Path

from gitserver.buildpacks.python import probes, selection
from gitserver.buildpacks.python.pyversions import version_key
from gitserver.buildpacks.python.rules import RuntimeCatalogRules, rules_of
from gitserver.buildpacks.python.types import ChosenPython, HostInterpreter
from gitserver.output import printable
from gitserver.pipeline.commands import run_quiet
from gitserver.pipeline.context import BuildContext
from gitserver.pipeline.errors import BuildError

ENV_SUBDIR = Path(".heroku") / "python"
RUNTIME_MARKER = Path(".heroku") / "python-version"  # cedar-14: the installed runtime's name
PROFILE_SCRIPT = Path(".profile.d") / "python.sh"

# The 2015 buildpack and Heroku's docs: virtualenv 20.22 dropped Python 2.7.
VIRTUALENV_REQUIREMENT = "virtualenv<20.22"

_PYTHON_NAME = re.compile(rb"^(python|pypy)[0-9.]*$")
_CODING = re.compile(rb"^[ \t\f]*#.*?coding[:=][ \t]*[-\w.]+")
# distlib's own workaround for shebangs longer than the kernel allows, with an absolute path.
_SH_EXEC = re.compile(rb"""^'''exec' (?:"([^"]+)"|(\S+))((?: [^"]\S*)*) "\$0" "\$@"$""")
_RELOCATABLE_MARK = b'"$(dirname -- "$(realpath -- "$0")")/'


def install_python(ctx: BuildContext, python: ChosenPython) -> None:
    """Create `.heroku/python` (or keep the cached one) and write `.profile.d/python.sh`."""
    env_dir = ctx.build_dir / ENV_SUBDIR
    if isinstance(rules_of(ctx).python, RuntimeCatalogRules):
        _install_runtime(ctx, python, env_dir)
    else:
        _install_version(ctx, python, env_dir)
    write_profile_script(ctx)


def _install_version(ctx: BuildContext, python: ChosenPython, env_dir: Path) -> None:
    """heroku-24: reuse the restored environment if it still works, else make a new one."""
    record = ctx.report.cache
    if record.reused and env_matches(ctx, env_dir, python.interpreter):
        ctx.out.step(f"Using cached install of Python {python.version}")
        return
    if record.reused and env_dir.exists():
        record.reasons.append("The cached Python environment no longer runs on this host")
    _remove(env_dir)
    ctx.out.step(f"Installing Python {python.version}")
    create_environment(ctx, python.interpreter, env_dir)


def _install_runtime(ctx: BuildContext, python: ChosenPython, env_dir: Path) -> None:
    """cedar-14: `.heroku/python-version` names the installed runtime; a change purges it."""
    marker = ctx.build_dir / RUNTIME_MARKER
    try:
        previous = marker.read_text().strip() or None
    except OSError:
        previous = None
    if previous is not None and previous != python.runtime_name:
        ctx.out.step(f"Found runtime {printable(previous, 100)}, removing")
        record = ctx.report.cache
        record.discarded = True
        record.reasons.append(f"The runtime has changed from {previous} to {python.runtime_name}")
    elif previous == python.runtime_name and env_matches(ctx, env_dir, python.interpreter):
        return  # unchanged and cached: the 2015 buildpack printed nothing
    _remove(env_dir)
    ctx.out.step(f"Installing runtime ({python.runtime_name})")
    note = selection.host_note(python)
    if note:
        ctx.out.indent(note)
    create_environment(ctx, python.interpreter, env_dir)
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text(python.runtime_name + "\n")


def env_matches(ctx: BuildContext, env_dir: Path, interp: HostInterpreter) -> bool:
    """Whether the environment at `env_dir` runs, as the same Python as `interp`.

    Its `bin/python` came with the app's cache, which the app's own code wrote: it is asked
    in the build's sandbox, as every other program of the app is run."""
    python = env_dir / "bin" / "python"
    if not python.exists():
        return False
    env = {k: v for k, v in ctx.env.items() if not k.startswith("PYTHON")}
    try:
        code, output = run_quiet(ctx, [str(python), *probes.PROBE_ARGS], env=env)
    except OSError:
        return False
    found = probes.parse_answer(code, output)
    if found is None:
        return False
    implementation, language, pypy = found
    version = pypy if implementation == "pypy" else language
    return implementation == interp.implementation and version == interp.version


def create_environment(ctx: BuildContext, interp: HostInterpreter, env_dir: Path) -> None:
    """Make a relocatable environment at `env_dir` from `interp`, without pip."""
    env_dir.parent.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in ctx.env.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    env["PYTHONWARNINGS"] = "ignore"  # virtualenv's imports warn about distutils on stderr
    language = version_key(interp.language)
    output = ""
    if language >= (3, 3, 0, 0):
        argv = [str(interp.path), "-m", "venv", str(env_dir)]
        if language >= (3, 4, 0, 0):
            argv.insert(3, "--without-pip")
        code, output = run_quiet(ctx, argv, env=env)
        if code == 0 and (env_dir / "bin" / "python").exists():
            make_relocatable(env_dir)
            return
        # Some distributions ship Python without a working venv module (Debian's
        # python3-venv): virtualenv still works there.
        _remove(env_dir)
    if importlib.util.find_spec("virtualenv") is None:
        raise BuildError(
            "PYTHON_INSTALL_FAILED",
            "Unable to create the Python environment.",
            [
                f"Python {interp.language} at {interp.path} cannot create a virtual environment",
                "itself, and the virtualenv package is not installed next to cedarbox.",
                f"Install it into cedarbox's environment: pip install '{VIRTUALENV_REQUIREMENT}'",
                *(["", "Output of venv:", *output.splitlines()[-10:]] if output else []),
            ],
            legacy_lines=[
                f"Unable to create the Python environment: install '{VIRTUALENV_REQUIREMENT}'",
                "into cedarbox's environment.",
            ],
        )
    argv = [
        sys.executable,
        "-m",
        "virtualenv",
        "--python",
        str(interp.path),
        "--no-pip",
        "--no-setuptools",
        "--no-wheel",
        "--no-periodic-update",
        "--quiet",
        str(env_dir),
    ]
    code, output = run_quiet(ctx, argv, env=env)
    if code != 0 or not (env_dir / "bin" / "python").exists():
        _remove(env_dir)
        tail = output.splitlines()[-15:]
        raise BuildError(
            "PYTHON_INSTALL_FAILED",
            "Unable to create the Python environment.",
            [
                f"Creating a virtual environment from Python {interp.language} at",
                f"{interp.path} failed (virtualenv exited with status {code}):",
                *tail,
                "",
                "Check that this interpreter works, or register another one with",
                "`cedarbox runtimes:add VERSION PATH`.",
            ],
            legacy_lines=[f"Unable to create the Python environment from {interp.path}.", *tail],
        )
    make_relocatable(env_dir)


def _remove(path: Path) -> None:
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.exists():
        shutil.rmtree(path)


# Relocation ----------------------------------------------------------------------------------


def make_relocatable(env_dir: Path) -> list[Path]:
    """Make the scripts in `env_dir/bin` work wherever the env is moved; return those changed.

    Console scripts (pip's, gunicorn's, ...) start with `#!<env>/bin/python`: that path is the
    build directory, which the released slug is not unpacked into. They are rewritten to a
    header that runs both as sh and as Python, finding the interpreter next to the script:

        #!/bin/sh
        '''exec' "$(dirname -- "$(realpath -- "$0")")/python" "$0" "$@"
        ' '''

    The `activate` script's hard-coded VIRTUAL_ENV is replaced by the script's own location.
    Idempotent: safe to call after every pip install.
    """
    bin_dir = env_dir / "bin"
    changed: list[Path] = []
    if any(p.is_symlink() for p in (env_dir.parent, env_dir, bin_dir)):
        return changed  # the app's own code made it a link: never follow it out of the build
    try:
        entries = sorted(bin_dir.iterdir())
    except OSError:
        return changed
    for entry in entries:
        if entry.is_symlink() or not entry.is_file():
            continue
        if entry.name == "activate":
            if _relocate_activate(entry):
                changed.append(entry)
        elif _relocate_shebang(entry, env_dir):
            changed.append(entry)
    return changed


def _relocate_shebang(script: Path, env_dir: Path) -> bool:
    try:
        with open(script, "rb") as f:
            head = f.read(2)
            if head != b"#!":
                return False
            data = head + f.read()
    except OSError:
        return False
    lines = data.split(b"\n")
    first = lines[0].rstrip(b"\r")
    if first.strip() == b"#!/bin/sh" and len(lines) >= 3:
        # distlib's long-shebang form: #!/bin/sh, '''exec' /abs/python "$0" "$@", ' '''
        if any(_RELOCATABLE_MARK in line for line in lines[1:3]):
            return False  # already relocatable
        coding_line = lines[1] if _CODING.match(lines[1]) else None
        exec_index = 2 if coding_line is not None else 1
        m = _SH_EXEC.match(lines[exec_index].rstrip(b"\r"))
        if not m or lines[exec_index + 1].rstrip(b"\r") != b"' '''":
            return False
        interpreter, args = m.group(1) or m.group(2), m.group(3).split()
        rest = lines[exec_index + 2 :]
    else:
        parts = first[2:].strip().split()
        if not parts:
            return False
        interpreter, args = parts[0], parts[1:]
        coding_line = lines[1] if len(lines) > 1 and _CODING.match(lines[1]) else None
        rest = lines[2:] if coding_line is not None else lines[1:]
    if not _is_env_python(interpreter, env_dir):
        return False
    name = os.path.basename(interpreter)
    header = [b"#!/bin/sh"]
    if coding_line is not None:
        header.append(coding_line)  # Python only honours a coding cookie on line 1 or 2
    header.append(
        b"'''exec' "
        + _RELOCATABLE_MARK
        + name
        + b'"'
        + b"".join(b" " + a for a in args)
        + b' "$0" "$@"'
    )
    header.append(b"' '''")
    new = b"\n".join(header + rest)
    mode = script.stat().st_mode
    tmp = script.with_name(f".{script.name}.relocating")
    tmp.write_bytes(new)
    os.chmod(tmp, mode)
    tmp.replace(script)
    return True


def _is_env_python(interpreter: bytes, env_dir: Path) -> bool:
    """`<env>/bin/python*`, at this location or any earlier one (`…/.heroku/python/bin/…`)."""
    if not interpreter.startswith(b"/"):
        return False
    path = Path(os.fsdecode(interpreter))
    if not _PYTHON_NAME.match(os.fsencode(path.name)):
        return False
    if path.parent == env_dir / "bin":
        return True
    return path.parts[-4:-1] == (*env_dir.parts[-2:], "bin")


def _relocate_activate(script: Path) -> bool:
    try:
        text = script.read_text()
    except (OSError, UnicodeDecodeError):
        return False
    m = re.search(r"""^\s*(?:export\s+)?VIRTUAL_ENV=(["']?)(/[^"'\n]*)\1\s*$""", text, re.M)
    if not m:
        return False
    old = m.group(2)
    here = '"$(cd -- "$(dirname -- "${BASH_SOURCE:-$0}")/.." && pwd)"'
    for form in (f'"{old}"', f"'{old}'", old):
        text = text.replace(form, here)
    script.write_text(text)
    return True


# .profile.d ----------------------------------------------------------------------------------


def write_profile_script(ctx: BuildContext) -> Path:
    """`.profile.d/python.sh`: sourced by every dyno before its command (heroku-reference §9)."""
    pp = rules_of(ctx).python
    lines = [
        "# Written by the Python buildpack. Dynos source this before running a command;",
        "# $HOME is the directory the slug was unpacked into.",
        'export PATH="$HOME/.heroku/python/bin:$PATH"',
    ]
    for name, value in pp.runtime_env.items():
        lines.append(f'export {name}="{value}"')
    for name, value in pp.runtime_env_defaults.items():
        lines.append(f'export {name}="${{{name}:-{value}}}"')
    lines += [
        "# No PYTHONHOME: .heroku/python is a virtual environment that finds the standard",
        "# library through its pyvenv.cfg; PYTHONHOME pointing into it would hide the stdlib.",
    ]
    path = ctx.build_dir / PROFILE_SCRIPT
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return path
