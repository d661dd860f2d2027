"""Run a build's subprocesses: output streamed line by line, bounded by the compile deadline
and by the build's output budget (gitserver/pipeline/outputcap.py)."""

from __future__ import annotations

import contextlib
import fcntl
import os
import selectors
import signal
import subprocess
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path

from gitserver import cgroups, sandbox
from gitserver.output import printable
from gitserver.pipeline.context import BuildContext
from gitserver.pipeline.errors import BuildError
from gitserver.pipeline.outputcap import LineSplitter, OutputBudget

LineSink = Callable[[str], None]
# What a line costs the output budget beyond its bytes: the newline and the indentation
# (`       `) it is streamed and stored with, so the stored transcript stays within the budget.
LINE_OVERHEAD = 8
# The pipe from a command holds (and each read takes) up to this much: with the kernel's
# default 64 KiB, a command printing 200 MB spends about twice as long switching back and forth
# with the reader (bench/output_flood.py).
READ_SIZE = 1024 * 1024


def build_timeout_error(ctx: BuildContext) -> BuildError:
    minutes = ctx.request.settings.build_timeout / 60
    return BuildError(
        "BUILD_TIMEOUT",
        "Build timed out.",
        [
            f"The compile step ran longer than the limit of {minutes:g} minutes and was stopped.",
            "Make the build faster (fewer or cached dependencies), or raise the limit with",
            "CEDARBOX_BUILD_TIMEOUT (seconds) on the cedarbox server.",
        ],
        legacy_lines=[f"Compile did not complete in {minutes:g} minutes."],
    )


def sandbox_mode(ctx: BuildContext) -> sandbox.Mode:
    """The sandbox build steps run in; BuildError(SANDBOX_UNAVAILABLE) when none can be made."""
    try:
        return sandbox.mode(ctx.request.settings.sandbox)
    except sandbox.SandboxUnavailable as exc:
        raise BuildError(
            exc.code,
            "Unable to sandbox the build.",
            [exc.message, exc.hint],
            legacy_lines=[exc.message, exc.hint],
        ) from None


def hand_over(ctx: BuildContext) -> None:
    """After compile: the whole build directory is the app's, also what the platform wrote
    there after the last step, so the cached `.heroku` has one owner build after build (its
    digest, which lets the next slug reuse it, includes owners)."""
    mode = sandbox_mode(ctx)
    if mode.enabled and mode.per_app_uid:
        settings = ctx.request.settings
        sandbox.give(sandbox.app_identity(settings.data_dir, ctx.request.app), [ctx.build_dir])


def sandboxed(
    ctx: BuildContext,
    argv: Sequence[str],
    cwd: Path,
    env: Mapping[str, str],
    group: cgroups.Group | None = None,
) -> list[str]:
    """`argv` inside the build's sandbox: it writes only the build directory (with its cache
    copy), the build's scratch space (its $HOME) and ENV_DIR, as the app's own uid.

    Raises OSError, as Popen would, when the program could not be started at all."""
    mode = sandbox_mode(ctx)
    if not mode.enabled:
        return list(argv)
    problem = sandbox.exec_problem(argv[0], env.get("PATH", os.defpath))
    if problem is not None:
        raise problem
    request = ctx.request
    settings = request.settings
    identity = sandbox.app_identity(settings.data_dir, request.app) if mode.per_app_uid else None
    writable = (request.build_dir, ctx.scratch, request.env_dir)
    sandbox.give(identity, writable)
    policy = sandbox.Policy(
        app=request.app,
        identity=identity,
        writable=writable,
        readonly=sandbox.readonly_roots(
            tool_wheels=settings.tool_wheels, pip_env=ctx.env, extra=settings.sandbox_readonly
        ),
        cwd=cwd,
        max_processes=settings.build_max_processes,
        cgroup=group,
    )
    return sandbox.wrap(policy, argv)


@contextlib.contextmanager
def step_group(ctx: BuildContext) -> Iterator[cgroups.Group | None]:
    """The build step's control group (None: sandbox off, or no cgroups on this host)."""
    settings = ctx.request.settings
    if not sandbox_mode(ctx).enabled:
        yield None
        return
    limits = cgroups.Limits(
        max_processes=settings.build_max_processes,
        memory_bytes=settings.build_max_memory_mb * 1024 * 1024,
    )
    try:
        group = cgroups.new_group(
            settings.data_dir, ctx.request.app, "build", limits, settings.cgroups
        )
    except OSError as exc:
        message = f"Cannot make the build step's control group: {exc.strerror or exc}."
        hint = "Check that the cgroup file system is writable by the cedarbox server."
        raise BuildError(
            "SANDBOX_UNAVAILABLE",
            "Unable to limit the build.",
            [message, hint],
            legacy_lines=[message, hint],
        ) from None
    try:
        yield group
    finally:
        if group is not None:
            group.remove()


def limit_error(ctx: BuildContext, events: cgroups.Events, program: str) -> BuildError | None:
    """The failed step's limit, named with its figure and the setting that raises it."""
    settings = ctx.request.settings
    name = printable(Path(program).name, 60)
    if events.oom_kills:
        limit = f"the build's memory limit of {settings.build_max_memory_mb} MB"
        what = f"The kernel stopped `{name}` when the step used more memory than that."
        code, setting = "BUILD_MEMORY_LIMIT", "CEDARBOX_BUILD_MAX_MEMORY_MB"
    elif events.process_limit_hits:
        limit = f"the build's limit of {settings.build_max_processes} processes"
        what = f"`{name}` failed after the step was refused more processes and threads."
        code, setting = "BUILD_PROCESS_LIMIT", "CEDARBOX_BUILD_MAX_PROCESSES"
    else:
        return None
    summary = f"A build step hit {limit}."
    fix = f"Use less, or raise the limit with {setting} on the cedarbox server."
    return BuildError(code, summary, [what, fix], legacy_lines=[summary, fix])


def run_streamed(
    ctx: BuildContext,
    argv: Sequence[str],
    *,
    on_line: LineSink,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    merge_stderr: bool = True,
    on_stderr: LineSink | None = None,
) -> int:
    """Run `argv`, passing each output line to `on_line` as it arrives; return the exit code.

    The process runs in its own process group so a timeout kills everything it started.
    Raises BuildError(BUILD_TIMEOUT) when the compile deadline passes.
    """
    step_env = dict(env if env is not None else ctx.env)
    with step_group(ctx) as group:
        code = _run_in(ctx, argv, group, on_line, cwd, step_env, merge_stderr, on_stderr)
        hit = None
        if group is not None and code != 0:
            hit = limit_error(ctx, group.events(), argv[0])
    if hit is not None:
        raise hit
    return code


def _run_in(
    ctx: BuildContext,
    argv: Sequence[str],
    group: cgroups.Group | None,
    on_line: LineSink,
    cwd: Path | None,
    step_env: dict[str, str],
    merge_stderr: bool,
    on_stderr: LineSink | None,
) -> int:
    proc = subprocess.Popen(
        sandboxed(ctx, argv, cwd or ctx.build_dir, step_env, group),
        cwd=cwd or ctx.build_dir,
        env=step_env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT if merge_stderr else subprocess.PIPE,
        start_new_session=True,
    )
    streams = [(proc.stdout, on_line)]
    if not merge_stderr:
        streams.append((proc.stderr, on_stderr or on_line))
    selector = selectors.DefaultSelector()
    sinks: dict[int, LineSink] = {}  # by file descriptor
    budget = output_budget(ctx)
    splitters: dict[int, LineSplitter] = {}
    for stream, sink in streams:
        assert stream is not None
        os.set_blocking(stream.fileno(), False)
        _widen_pipe(stream.fileno())
        selector.register(stream, selectors.EVENT_READ)
        sinks[stream.fileno()] = sink
        splitters[stream.fileno()] = LineSplitter(budget.limit)
    try:
        while selector.get_map():
            remaining = ctx.remaining()
            if remaining <= 0:
                _kill_group(proc)
                raise build_timeout_error(ctx)
            for key, _ in selector.select(timeout=min(remaining, 1.0)):
                data = os.read(key.fd, READ_SIZE)
                if not data:
                    selector.unregister(key.fileobj)
                    last = splitters[key.fd].flush()
                    lines = [last] if last else []
                elif budget.exhausted:
                    continue  # read and dropped: the command must not block on a full pipe
                else:
                    lines = splitters[key.fd].feed(data)
                for line, size in lines:
                    _emit(ctx, budget, sinks[key.fd], line, size)
        while True:
            try:
                return proc.wait(timeout=max(ctx.remaining(), 0.01))
            except subprocess.TimeoutExpired:
                _kill_group(proc)
                raise build_timeout_error(ctx) from None
    except BaseException:
        _kill_group(proc)
        raise
    finally:
        selector.close()
        for stream, _ in streams:
            if stream is not None:
                stream.close()


def run_quiet(
    ctx: BuildContext,
    argv: Sequence[str],
    *,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
) -> tuple[int, str]:
    """Run `argv` collecting its output (for steps Heroku keeps silent); deadline applies."""
    lines: list[str] = []
    code = run_streamed(ctx, argv, on_line=lines.append, cwd=cwd, env=env)
    return code, "\n".join(lines)


def output_budget(ctx: BuildContext) -> OutputBudget:
    """The build's budget of command output, shared by all its commands."""
    if ctx.output_budget is None:
        ctx.output_budget = OutputBudget(ctx.request.settings.build_output_max_bytes)
    return ctx.output_budget


def _emit(ctx: BuildContext, budget: OutputBudget, sink: LineSink, line: bytes, size: int) -> None:
    """Pass the line on if it fits the budget; say once that the rest is dropped."""
    was_exhausted = budget.exhausted
    if budget.take(size + LINE_OVERHEAD):
        sink(_decode(line))
    elif not was_exhausted:
        ctx.out.bang(budget.dropped_line())


def _widen_pipe(fd: int) -> None:
    """Ask for a READ_SIZE pipe buffer (Linux; capped by /proc/sys/fs/pipe-max-size)."""
    with contextlib.suppress(OSError, AttributeError):
        fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, READ_SIZE)


def _decode(raw: bytes) -> str:
    return raw.rstrip(b"\r").decode("utf-8", "replace")


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
