"""Helpers for tests that drive the real git client."""

from __future__ import annotations

import io
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class GitResult:
    returncode: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    def remote_lines(self) -> list[str]:
        """What the server printed: the `remote: ` lines, prefix and git's padding removed."""
        lines = []
        for line in self.stderr.splitlines():
            if line.startswith("remote: "):
                lines.append(line[len("remote: ") :].rstrip())
            elif line == "remote:":
                lines.append("")
        return lines


def git(cwd: Path, env: Mapping[str, str], *args: str, timeout: float = 600) -> GitResult:
    proc = subprocess.run(
        ["git", *args], cwd=cwd, env=dict(env), capture_output=True, text=True, timeout=timeout
    )
    return GitResult(proc.returncode, proc.stdout, proc.stderr)


def make_repo(
    path: Path,
    env: Mapping[str, str],
    files: Mapping[str, str] | Mapping[str, str | bytes],
    message: str = "initial",
) -> Path:
    """A git work tree with `files` committed on `main`."""
    path.mkdir(parents=True, exist_ok=True)
    check(git(path, env, "init", "-q", "-b", "main"))
    write_files(path, files)
    commit(path, env, message)
    return path


def write_files(root: Path, files: Mapping[str, str] | Mapping[str, str | bytes]) -> None:
    for name, content in files.items():
        target = root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            target.write_bytes(content)
        else:
            target.write_text(content)
        if name.startswith("bin/"):
            target.chmod(0o755)


def commit(path: Path, env: Mapping[str, str], message: str) -> str:
    check(git(path, env, "add", "-A"))
    check(git(path, env, "commit", "-q", "--allow-empty", "-m", message))
    return head(path, env)


def head(path: Path, env: Mapping[str, str]) -> str:
    return check(git(path, env, "rev-parse", "HEAD")).stdout.strip()


def check(result: GitResult) -> GitResult:
    if result.returncode != 0:
        raise AssertionError(f"git failed ({result.returncode}):\n{result.output}")
    return result


def remote_sha(
    url_or_path: str, env: Mapping[str, str], ref: str = "refs/heads/main"
) -> str | None:
    result = check(git(Path("/"), env, "ls-remote", url_or_path, ref))
    line = result.stdout.strip()
    return line.split()[0] if line else None


def push_timed(
    cwd: Path, env: Mapping[str, str], *args: str
) -> tuple[GitResult, list[tuple[float, str]]]:
    """Push, recording when each line of git's stderr arrived (seconds since the start)."""
    start = time.monotonic()
    proc = subprocess.Popen(
        ["git", "push", "--progress", *args],
        cwd=cwd,
        env=dict(env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stderr is not None and proc.stdout is not None
    timed: list[tuple[float, str]] = []
    buf = b""
    pipe = proc.stderr
    assert isinstance(pipe, io.BufferedReader)  # read1: what has arrived, without waiting for more
    while chunk := pipe.read1(65536):
        buf += chunk
        *lines, buf = buf.replace(b"\r", b"\n").split(b"\n")
        now = time.monotonic() - start
        timed.extend((now, line.decode(errors="replace")) for line in lines if line)
    if buf:
        timed.append((time.monotonic() - start, buf.decode(errors="replace")))
    stdout = proc.stdout.read().decode(errors="replace")
    code = proc.wait()
    timed.append((time.monotonic() - start, "<exit>"))
    stderr = "\n".join(line for _, line in timed[:-1])
    return GitResult(code, stdout, stderr), timed
