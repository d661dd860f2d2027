"""A recording buildpack for the pipeline's fast tests: what ran, in order, failure injectable.

    pack = FakeBuildpack(fail_in="compile")
    run_build(request, out, [pack])
    pack.calls == ["detect", "compile"]

It caches like a real buildpack: each entry in `keep` is taken from the last good cache into
the build directory if there, then (re)written and kept for the next build.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from gitserver.pipeline.buildpack import CacheToSave, ReleaseMetadata
from gitserver.pipeline.context import BuildContext
from gitserver.pipeline.errors import BuildError

STEPS = ("detect", "compile", "release")


def fake_error(step: str) -> BuildError:
    return BuildError(
        f"FAKE_{step.upper()}_FAILED",
        f"The fake buildpack failed in {step}.",
        ["As the test asked it to."],
    )


@dataclass
class FakeBuildpack:
    name: str = "Fake"
    accepts: bool = True  # what detect answers
    fail_in: str | None = None  # one of STEPS: raise fake_error(step) there
    keep: dict[str, str] = field(default_factory=dict)  # cache entry -> content of its file
    discard_cache: bool = False  # use nothing of the last good cache
    addons: list[str] = field(default_factory=list)
    default_process_types: dict[str, str] = field(default_factory=dict)
    calls: list[str] = field(default_factory=list)
    taken: dict[str, bool] = field(default_factory=dict)  # entry -> found in the cache
    in_build_dir: bool = False  # keep the entries in the build directory (as `.heroku` is)

    def __post_init__(self) -> None:
        if self.fail_in is not None and self.fail_in not in STEPS:
            raise ValueError(f"fail_in must be one of {STEPS}, not {self.fail_in!r}")

    def _step(self, step: str) -> None:
        self.calls.append(step)
        if self.fail_in == step:
            raise fake_error(step)

    def detect(self, ctx: BuildContext) -> bool:
        self._step("detect")
        return self.accepts

    def compile(self, ctx: BuildContext) -> CacheToSave:
        self._step("compile")
        cache = ctx.cache
        assert cache is not None, "the restore phase runs before compile"
        if self.discard_cache:
            cache.discard()
        entries: dict[str, Path] = {}
        for name, content in self.keep.items():
            entry = (ctx.build_dir if self.in_build_dir else ctx.scratch / "fake-cache") / name
            self.taken[name] = cache.take(name, entry)
            entry.mkdir(parents=True, exist_ok=True)
            file = entry / "content"
            if not file.is_file() or file.read_text() != content:  # unchanged: left as it is
                file.write_text(content)
            entries[name] = entry
        return CacheToSave(entries, {"fake": sorted(self.keep)})

    def release(self, ctx: BuildContext) -> ReleaseMetadata:
        self._step("release")
        return ReleaseMetadata(
            addons=list(self.addons), process_types=dict(self.default_process_types)
        )
