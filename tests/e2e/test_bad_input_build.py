"""Bad input in the pushed tree, through real `git push`: a clear message and nothing lost.

Each case commits odd content on top of what is deployed and pushes it to one shared server.
A refused push must name the problem and the fix, print no traceback, and leave the branch,
the current release, the build cache and the slugs as they were; a push that builds must
store exactly what was pushed, and never read or write through a symlink out of the tree.
"""

from __future__ import annotations

import codecs
import json
import os
import stat
import tarfile
import time
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.gitutil import GitResult, check, git, make_repo, remote_sha, write_files
from tests.support.server import Server
from tests.support.transcript import HEAD, launched, normalise

USING = [
    "-----> Using Python 3.12 specified in .python-version",
    "       Heroku would install Python 3.12.14; this host provides 3.12.<PATCH>.",
]
WARM = [
    "-----> Restoring cache",
    "-----> Using cached install of Python 3.12.14",
    "-----> Installing pip 26.2.1 and setuptools 70.3.0",
    "-----> Installing dependencies using 'pip install -r requirements.txt'",
    "       Looking in links: <WHEELHOUSE>, <APP_WHEELS>",
    "-----> Saving cache",
]
BASE = {"requirements.txt": "", ".python-version": "3.12\n", "app.py": "print('hello')\n"}
TEN_MB = 10 * 1024 * 1024


def bang(*lines: str) -> list[str]:
    return [f" !     {line}".rstrip() for line in lines]


def error(summary: str, *body: str) -> list[str]:
    """heroku-24's error block as the transcript shows it (blank lines around it)."""
    return ["", *bang(f"Error: {summary}", "", *body), ""]


def rejected(code: str) -> list[str]:
    return [
        *bang("Push rejected, failed to compile Python app."),
        "",
        *bang("Push failed", f"Error code: BUILD_FAILED ({code})"),
    ]


def transcript(result: GitResult) -> list[str]:
    return normalise(result.remote_lines())


@dataclass(frozen=True)
class State:
    """What a refused push must leave as it was."""

    branch: str | None
    release: int | None
    cache: tuple[bytes, int] | None  # the cache's metadata and the inode of `current/`
    slugs: tuple[str, ...]

    @property
    def next_release(self) -> int:
        return (self.release or 0) + 1


@dataclass
class Deployed:
    """An app on the shared server, deployed once; each case pushes its tree on top of that."""

    server: Server
    name: str
    repo: Path
    base: Mapping[str, str]

    def state(self) -> State:
        url = f"{self.server.url}/api/apps/{self.name}"
        with urllib.request.urlopen(url, timeout=30) as response:  # the server is alive, too
            release = json.load(response)["release"]
        current = self.server.data_dir / "cache" / self.name / "current"
        cache = None
        if current.is_dir():
            cache = ((current / "metadata.json").read_bytes(), current.stat().st_ino)
        slugs = self.server.data_dir / "slugs" / self.name
        return State(
            branch=remote_sha(self.server.git_url(self.name), self.server.env),
            release=release,
            cache=cache,
            slugs=tuple(sorted(os.listdir(slugs))) if slugs.is_dir() else (),
        )

    def push(
        self,
        files: Mapping[str, str | bytes] | None = None,
        *,
        remove: Sequence[str] = (),
        links: Mapping[str, str] | None = None,
        entries: Sequence[tuple[str, str, str]] = (),
    ) -> GitResult:
        """Push a commit, on top of the deployed one, of the base tree with these changes.

        `entries` are (mode, object, path) index entries added with git plumbing: gitlinks
        (mode 160000, as `git submodule add` records them) or names no checkout could hold.
        """
        env, repo = self.server.env, self.repo
        deployed = remote_sha(self.server.git_url(self.name), env)
        assert deployed is not None
        check(git(repo, env, "reset", "-q", "--hard", deployed))
        check(git(repo, env, "rm", "-q", "-r", "-f", "--ignore-unmatch", "."))
        check(git(repo, env, "clean", "-q", "-ffdx"))
        write_files(repo, {k: v for k, v in self.base.items() if k not in remove})
        write_files(repo, files or {})
        for name, target in (links or {}).items():
            (repo / name).parent.mkdir(parents=True, exist_ok=True)
            (repo / name).symlink_to(target)
        check(git(repo, env, "add", "-A"))
        for mode, sha, path in entries:
            check(git(repo, env, "update-index", "--add", "--cacheinfo", f"{mode},{sha},{path}"))
        check(git(repo, env, "commit", "-q", "--allow-empty", "-m", "case"))
        return git(repo, env, "push", self.server.git_url(self.name), "main")

    def refused(self, result: GitResult, before: State) -> list[str]:
        """Check a refusal lost nothing and crashed nothing; return its transcript."""
        assert result.returncode != 0, result.output
        assert "Traceback" not in result.output
        assert " ! [remote rejected] main -> main (pre-receive hook declined)" in result.stderr
        assert self.state() == before
        return transcript(result)

    def built(self, result: GitResult, before: State) -> list[str]:
        check(result)
        assert "Traceback" not in result.output
        after = self.state()
        assert after.release == before.next_release
        assert after.branch != before.branch and after.cache != before.cache
        return transcript(result)

    def slug(self) -> dict[bytes, tuple[tarfile.TarInfo, bytes | None]]:
        """The current release's slug: each member by its exact name (bytes), with its data."""
        info = json.loads(self.server.cli("releases:info", "-a", self.name, "--json").stdout)
        members = {}
        with tarfile.open(info["slug"]) as tar:
            for member in tar:
                data = tar.extractfile(member) if member.isfile() else None
                members[os.fsencode(member.name)] = (member, data.read() if data else None)
        return members


@pytest.fixture(scope="module")
def shared(module_server: Server) -> Server:
    """The module's server: each case pushes on top of the apps deployed once below."""
    return module_server


@pytest.fixture(scope="module")
def app(shared: Server, tmp_path_factory: pytest.TempPathFactory) -> Deployed:
    repo = make_repo(tmp_path_factory.mktemp("bad-input-src"), shared.env, BASE)
    check(git(repo, shared.env, "push", shared.git_url("bad-input"), "main"))
    return Deployed(shared, "bad-input", repo, BASE)


@pytest.fixture(scope="module")
def cedar(shared: Server, tmp_path_factory: pytest.TempPathFactory) -> Deployed:
    shared.cli("apps:create", "bad-cedar", "--stack", "cedar-14")
    files = {"requirements.txt": "", "app.py": "print('hello')\n"}
    repo = make_repo(tmp_path_factory.mktemp("bad-cedar-src"), shared.env, files)
    check(git(repo, shared.env, "push", shared.git_url("bad-cedar"), "main"))
    return Deployed(shared, "bad-cedar", repo, files)


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A directory outside every tree: links point here, and nothing may change in it."""
    root = tmp_path / "outside"
    root.mkdir()
    (root / "version").write_text("3.11\n")
    (root / "victim.sh").write_text("#!/bin/sh\necho followed\n")
    return root


def listing(root: Path) -> dict[str, tuple[bytes, int]]:
    return {p.name: (p.read_bytes(), p.stat().st_mode) for p in sorted(root.iterdir())}


# 1. Version files ----------------------------------------------------------------------------

H24_FIX = [
    "For example, from a POSIX shell:",
    "  printf '3.14\\n' > .python-version",
    "Then commit the change and push again.",
]
RUNTIME_TXT_FIX = [
    "runtime.txt is deprecated: delete it (git rm runtime.txt) and use .python-version instead.",
    *H24_FIX,
]
ENCODING = [
    "",
    "Some editors and shells (Windows PowerShell's `echo ... > file`, for example)",
    "save files as UTF-16 or add a BOM. Save the file as UTF-8 text without a BOM.",
]
BINARY = b"\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00garbage\xff\xfe\x00\x01" * 64


def plain_text_problem(name: str, problem: str) -> list[str]:
    return [f"The {name} file in your app couldn't be read as plain text: {problem}.", *ENCODING]


def too_big(name: str, size: int, example: str = "3.14") -> list[str]:
    return [
        f"Your {name} file is {size:,} bytes long. A version file holds a single",
        f"line, such as {example}, so this can't be one (the build reads at most",
        "65,536 bytes of it). Was another file saved under this name?",
    ]


@pytest.mark.parametrize(
    ("name", "data", "problem"),
    [
        (
            ".python-version",
            BINARY,
            "it contains NUL bytes: it is binary data, or text saved as UTF-16",
        ),
        (
            ".python-version",
            codecs.BOM_UTF8 + b"3.12\n",
            "it starts with a UTF-8 byte order mark (BOM)",
        ),
        (
            ".python-version",
            "3.12\r\n".encode("utf-16"),
            "it starts with a UTF-16 byte order mark: it was saved as UTF-16",
        ),
        (
            "runtime.txt",
            BINARY,
            "it contains NUL bytes: it is binary data, or text saved as UTF-16",
        ),
        (
            "runtime.txt",
            codecs.BOM_UTF8 + b"python-3.12\n",
            "it starts with a UTF-8 byte order mark (BOM)",
        ),
        (
            "runtime.txt",
            "python-3.12\n".encode("utf-16"),
            "it starts with a UTF-16 byte order mark: it was saved as UTF-16",
        ),
    ],
    ids=["binary", "utf8-bom", "utf16", "rt-binary", "rt-utf8-bom", "rt-utf16"],
)
def test_version_file_that_is_not_text_is_refused(
    app: Deployed, name: str, data: bytes, problem: str
) -> None:
    before = app.state()
    lines = app.refused(app.push({name: data}), before)
    fix = H24_FIX if name == ".python-version" else RUNTIME_TXT_FIX
    assert lines == [
        *HEAD,
        *error(f"Unable to read {name}.", *plain_text_problem(name, problem), "", *fix),
        *rejected("PYTHON_VERSION_UNREADABLE"),
    ]


@pytest.mark.parametrize("name", [".python-version", "runtime.txt"])
def test_a_10_mb_version_file_is_refused_quickly(app: Deployed, name: str) -> None:
    # A valid version, then 10 MB of comment: Heroku would read it all; cedarbox stops at 64 KB.
    data = (b"3.12\n" if name == ".python-version" else b"python-3.12\n") + b"#" * TEN_MB
    before = app.state()
    started = time.monotonic()
    result = app.push({name: data})
    assert time.monotonic() - started < 60
    fix = H24_FIX if name == ".python-version" else RUNTIME_TXT_FIX
    assert app.refused(result, before) == [
        *HEAD,
        *error(f"Unable to read {name}.", *too_big(name, len(data)), "", *fix),
        *rejected("PYTHON_VERSION_UNREADABLE"),
    ]


def test_control_characters_in_a_version_are_shown_not_sent_to_the_terminal(
    app: Deployed,
) -> None:
    before = app.state()
    result = app.push({".python-version": "# pinned\n\x1b[2J\x1b]0;owned\x073.12\r\n"})
    assert "\x1b[2J" not in result.stderr and "\x07" not in result.stderr
    assert app.refused(result, before) == [
        *HEAD,
        *error(
            "Invalid Python version in .python-version.",
            "This line of your .python-version file isn't a Python version:",
            "\ufffd[2J\ufffd]0;owned\ufffd3.12",
            "",
            "Write the major version only (3.14, recommended) or an exact",
            "release (3.14.0): no quotes, no 'python-' prefix, no wildcards.",
            "Put comments on their own lines, starting with '#'.",
        ),
        *rejected("PYTHON_VERSION_INVALID"),
    ]


def test_a_version_file_symlink_is_never_followed(app: Deployed, outside: Path) -> None:
    # The target holds a valid version: had the build followed the link, it would have built.
    link = {".python-version": str(outside / "version")}
    before = app.state()
    lines = app.refused(app.push(remove=[".python-version"], links=link), before)
    assert lines == [
        *HEAD,
        *error(
            "Unable to read .python-version.",
            "Your .python-version file is a symbolic link (to '<TMP>",
            "The build never reads it through a link, which could point at any file",
            "outside your app: replace the link with a regular file.",
            "",
            *H24_FIX,
        ),
        *rejected("PYTHON_VERSION_UNREADABLE"),
    ]


def test_cedar_runtime_txt_that_is_not_text_is_refused(cedar: Deployed) -> None:
    fix = [
        "For example, from a POSIX shell:",
        "  printf 'python-2.7.9\\n' > runtime.txt",
        "Then commit the change and push again.",
    ]
    # Before, cedar-14 printed whatever runtime.txt held as the runtime's name (an invisible
    # BOM, binary junk, 10 MB); the decoding itself is the heroku-24 one, tested above.
    cases = [
        (BINARY, "it contains NUL bytes: it is binary data, or text saved as UTF-16"),
        (codecs.BOM_UTF8 + b"python-2.7.9\n", "it starts with a UTF-8 byte order mark (BOM)"),
    ]
    for data, problem in cases:
        before = cedar.state()
        lines = cedar.refused(cedar.push({"runtime.txt": data}), before)
        text = plain_text_problem("runtime.txt", problem)
        assert lines == [
            "-----> Python app detected",
            *bang("Unable to read runtime.txt.", text[0], *text[2:], *fix),
            "",
            *rejected("PYTHON_VERSION_UNREADABLE"),
        ]

    before = cedar.state()
    huge = b"python-2.7.9\n" + b" " * TEN_MB
    assert cedar.refused(cedar.push({"runtime.txt": huge}), before) == [
        "-----> Python app detected",
        *bang(
            "Unable to read runtime.txt.", *too_big("runtime.txt", len(huge), "python-2.7.9"), *fix
        ),
        "",
        *rejected("PYTHON_VERSION_UNREADABLE"),
    ]


def test_cedar_runtime_name_with_control_characters_is_shown_printably(cedar: Deployed) -> None:
    before = cedar.state()
    result = cedar.push({"runtime.txt": "python-2.7.9\x1b[8m\nsecond line\n"})
    assert "\x1b[8m" not in result.stderr
    assert cedar.refused(result, before) == [
        "-----> Python app detected",
        "-----> Found runtime python-2.7.9, removing",  # 2015: announced before the download
        "-----> Installing runtime (python-2.7.9\ufffd[8m\ufffdsecond line)",
        *bang(
            "Requested runtime (python-2.7.9\ufffd[8m\ufffdsecond line) is not available for this"
            " stack (cedar-14).",
            "Aborting.  More info: https://devcenter.heroku.com/articles/python-support",
        ),
        "",
        *rejected("RUNTIME_NOT_AVAILABLE"),
    ]


def test_cedar_crlf_runtime_txt_is_accepted(cedar: Deployed) -> None:
    before = cedar.state()
    lines = cedar.built(cedar.push({"runtime.txt": "python-2.7.9\r\n"}), before)
    assert lines == [
        "-----> Python app detected",  # the same runtime as before: cached, no runtime line
        "-----> Installing dependencies with pip",
        # pip 7.0.1 on an empty requirements.txt (its stderr is not indented, as in 2015):
        "       Ignoring indexes: https://pypi.python.org/simple",
        "You must give at least one requirement to install (maybe you meant"
        ' "pip install <WHEELHOUSE> <APP_WHEELS>"?)',
        "",
        "-----> Discovering process types",
        "       Procfile declares types -> (none)",
        "",
        "-----> Compressing... done, <SIZE>",
        f"-----> Launching... done, v{before.next_release}",
        "       https://bad-cedar.localhost:<PORT>/ deployed to cedarbox",
    ]
    report = json.loads(cedar.server.cli("builds:info", "-a", cedar.name).stdout)
    assert (report["python"]["requested"], report["python"]["source"]) == (
        "python-2.7.9",
        "runtime.txt",
    )


# 2. requirements.txt -------------------------------------------------------------------------

PASSWD = Path("/etc/passwd").read_text().splitlines()[0]  # "root:x:0:0:root:/root:/bin/bash"


def test_requirements_txt_that_is_not_a_regular_file_is_refused(app: Deployed) -> None:
    before = app.state()
    result = app.push({"requirements.txt/base.txt": "alpha\n"}, remove=["requirements.txt"])
    assert app.refused(result, before) == [
        *HEAD,
        *error(
            "The requirements.txt file is not a regular file.",
            "'requirements.txt' in the root of your app is a directory (or another",
            "kind of non-file), so pip cannot read it. Rename or remove it, and add a",
            "regular 'requirements.txt' file listing your app's dependencies.",
        ),
        *rejected("REQUIREMENTS_NOT_A_FILE"),
    ]

    # Never read, inside the app or out: one rule for every file the build reads itself.
    for target, files, where in [
        ("/etc/passwd", {}, "'/etc/passwd' (outside the app)."),
        ("reqs/base.txt", {"reqs/base.txt": "alpha\n"}, "'reqs/base.txt' (inside the app)."),
    ]:
        result = app.push(files, remove=["requirements.txt"], links={"requirements.txt": target})
        assert PASSWD not in result.output
        assert app.refused(result, before) == [
            *HEAD,
            *error(
                "The requirements.txt file is a symlink.",
                f"'requirements.txt' is a symbolic link to {where}",
                "For safety the build never follows it. Replace the link with a regular",
                "file containing your app's requirements, and commit it.",
            ),
            *rejected("REQUIREMENTS_NOT_A_FILE"),
        ]


# 3, 4 and 5. An odd but valid tree, in one push: it builds, and the slug holds it exactly. -----

LINKS_OUT = {"secrets": "/etc", "link": "../../..", "passwd": "/etc/passwd", "docs/up": "../app.py"}
ODD_NAMES = {
    b"new\nline.txt": b"a newline in the name\n",
    b"latin-1 caf\xe9.txt": b"not UTF-8\n",
    b"\xff\xfe raw bytes/inner\nfile": b"both, in a directory\n",
    b"tab\tand \x1b[31mescape.txt": b"control characters\n",
}
GITMODULES = '[submodule "lib"]\n\tpath = vendor/lib\n\turl = https://example.com/lib.git\n'


def test_links_out_odd_names_and_a_submodule_build_and_land_in_the_slug_as_pushed(
    app: Deployed,
) -> None:
    before = app.state()
    assert before.branch is not None  # any commit id: a submodule's objects never travel
    files: dict[str, str | bytes] = {os.fsdecode(k): v for k, v in ODD_NAMES.items()}
    files[".gitmodules"] = GITMODULES
    result = app.push(files, links=LINKS_OUT, entries=[("160000", before.branch, "vendor/lib")])
    assert app.built(result, before) == [
        "Building source:",
        "",
        *bang(
            "Warning: Git submodules are not included in the build.",
            "",
            "Your app's Git tree has submodules, which cedarbox never fetches. These",
            "directories are empty in the build and in the slug:",
            "  vendor/lib",
            "",
            "If your app needs that code, commit the files themselves instead of a",
            "submodule, or install the code as a package from requirements.txt.",
        ),
        "",
        *HEAD[2:],
        *USING,
        *WARM,
        *launched(app.name, before.next_release, "(none)"),
    ]
    slug = app.slug()
    # 3. Links are stored as links, never followed: no /etc in the slug, no host file's content.
    for name, target in LINKS_OUT.items():
        member, _ = slug[b"./" + name.encode()]
        assert member.issym() and member.linkname == target
    assert not [n for n in slug if n.startswith((b"./secrets/", b"./link/"))]
    assert not [n for n, (_, data) in slug.items() if data and PASSWD.encode() in data]
    # ... nor in the cache, which keeps only what the build made.
    cache = app.server.data_dir / "cache" / app.name / "current"
    kept = [".heroku", "digests.json", "metadata.json", "pip-noop.json", "slug-members"]
    assert sorted(os.listdir(cache)) == kept  # pip-noop.json: the warm, no-op pip run
    assert not (cache / ".heroku").is_symlink()
    # 4. Names with newlines, control characters and non-UTF-8 bytes, byte for byte.
    for odd, data in ODD_NAMES.items():
        member, content = slug[b"./" + odd]
        assert member.isfile() and content == data
    assert slug[b"./\xff\xfe raw bytes"][0].isdir()
    # 5. The submodule is an empty directory, and the report keeps the warning.
    assert slug[b"./vendor/lib"][0].isdir()
    assert not [n for n in slug if n.startswith(b"./vendor/lib/")]
    report = json.loads(app.server.cli("builds:info", "-a", app.name).stdout)
    assert report["warnings"] == ["Git submodules are not included in the build."]


# 3. Symlinks where the build writes are refused. -------------------------------------------


@pytest.mark.parametrize(
    ("rel", "target", "purpose"),
    [
        (".profile.d", "", "the script that sets up each dyno's environment"),
        (".profile.d/python.sh", "victim.sh", "the script that sets up each dyno's environment"),
        (".heroku", "", "the app's Python environment"),
    ],
    ids=[".profile.d", ".profile.d/python.sh", ".heroku"],
)
def test_a_symlink_where_the_build_writes_is_refused(
    app: Deployed, outside: Path, rel: str, target: str, purpose: str
) -> None:
    untouched = listing(outside)
    before = app.state()
    lines = app.refused(app.push(links={rel: str(outside / target)}), before)
    assert lines == [
        *HEAD,
        *error(
            f"The {rel} path in your app is a symbolic link.",
            f"'{rel}' is a symbolic link to '<TMP>",
            f"The build writes {purpose} there,",
            "and it never writes through a symbolic link: that would change files",
            "outside your app.",
            "",
            f"Remove '{rel}' from your Git repository (git rm -r {rel}), commit and push",
            "again: the build creates what it needs there itself.",
        ),
        *rejected("BUILD_PATH_CONFLICT"),
    ]
    assert listing(outside) == untouched


def test_a_hook_linked_out_of_the_tree_is_not_made_executable(app: Deployed, outside: Path) -> None:
    untouched = listing(outside)
    before = app.state()
    result = app.push(links={"bin/pre_compile": str(outside / "victim.sh")})
    assert "followed" not in result.output
    assert app.refused(result, before) == [
        *HEAD,
        "-----> Running bin/pre_compile hook",
        *error(
            "Failed to run the bin/pre_compile script.",
            "The bin/pre_compile script could not be started: Permission denied.",
            "Check its first line (for example #!/bin/sh or #!/usr/bin/env bash), and that",
            "it is a regular file in your app rather than a link to a file outside it.",
        ),
        *rejected("HOOK_FAILED"),
    ]
    assert listing(outside) == untouched
    assert not listing(outside)["victim.sh"][1] & stat.S_IXUSR


# 6. Huge Procfiles ---------------------------------------------------------------------------

PROCFILE_EXAMPLE = [
    "Each line must name a process type (letters, digits, '_' or '-'), a colon,",
    "and the command to run, for example:",
    "  web: gunicorn app:app",
]


def test_a_procfile_with_10000_process_types_is_refused_readably(app: Deployed) -> None:
    procfile = "".join(f"proc{i}: echo {i}\n" for i in range(10_000))
    before = app.state()
    started = time.monotonic()
    result = app.push({"Procfile": procfile})
    assert time.monotonic() - started < 120
    assert app.refused(result, before) == [
        *HEAD,
        *USING,
        *WARM,
        "-----> Discovering process types",
        *error(
            "Invalid Procfile.",
            "The Procfile declares 10000 process types, but cedarbox accepts at most 100.",
            "A process type is a kind of dyno your app runs (web, worker, ...), so apps",
            "need only a handful. Keep the types your app runs, and start one-off commands",
            "with `cedarbox run COMMAND` instead of declaring them.",
        ),
        *rejected("INVALID_PROCFILE"),
    ]


def test_a_procfile_with_10000_malformed_lines_shows_five_and_a_count(app: Deployed) -> None:
    procfile = "web: python app.py\n" + "".join(f"proc{i} echo {i}\n" for i in range(10_000))
    before = app.state()
    started = time.monotonic()
    result = app.push({"Procfile": procfile})
    assert time.monotonic() - started < 120
    shown = [
        line
        for i in range(5)
        for line in (f"Line {i + 2}: expected `<process type>: <command>`.", f"  proc{i} echo {i}")
    ]
    assert app.refused(result, before) == [
        *HEAD,
        *USING,
        *WARM,
        "-----> Discovering process types",
        *error(
            "Invalid Procfile.",
            "10000 lines of the Procfile could not be parsed; the first 5:",
            *shown,
            "... and 9995 more.",
            "",
            *PROCFILE_EXAMPLE,
        ),
        *rejected("INVALID_PROCFILE"),
    ]
    report = json.loads(app.server.cli("builds:info", "-a", app.name).stdout)
    assert (report["outcome"], report["failure_code"]) == ("failed", "INVALID_PROCFILE")


# And a tree this host cannot unpack. ----------------------------------------------------------


def test_a_name_too_long_for_this_host_is_refused_cleanly(app: Deployed, tmp_path: Path) -> None:
    blob = tmp_path / "blob"
    blob.write_text("x = 1\n")
    sha = check(git(app.repo, app.server.env, "hash-object", "-w", str(blob))).stdout.strip()
    long_name = "x" * 300 + ".py"  # git stores it; no Linux file system can create it
    before = app.state()
    result = app.push(entries=[("100644", sha, long_name)])
    assert app.refused(result, before) == [
        "Building source:",  # printed before the tree is unpacked
        "",
        *bang(
            f"Could not unpack the pushed tree: {'x' * 97}...: File name too long.",
            "Rename or remove that path in your repository, commit and push again.",
        ),
        "",
        *bang("Push failed", "Error code: SOURCE_UNPACK_FAILED"),
    ]
    builds = json.loads(app.server.cli("builds", "-a", app.name, "--json").stdout)
    assert (builds[0]["status"], builds[0]["failure_code"]) == ("failed", "SOURCE_UNPACK_FAILED")


# Last: good pushes after all of the above. ---------------------------------------------------


def test_crlf_version_files_build_and_the_server_survived_it_all(app: Deployed) -> None:
    """Last: after every refusal above, good pushes (with CRLF version files) still deploy."""
    before = app.state()
    lines = app.built(app.push({".python-version": "# pinned for prod\r\n3.12\r\n"}), before)
    assert lines == [*HEAD, *USING, *WARM, *launched(app.name, before.next_release, "(none)")]

    before = app.state()
    result = app.push({"runtime.txt": "python-3.12\r\n"}, remove=[".python-version"])
    lines = app.built(result, before)
    assert lines[: len(HEAD) + 4] == [
        *HEAD,
        "-----> Using Python 3.12 specified in runtime.txt",
        "       Heroku would install Python 3.12.14; this host provides 3.12.<PATCH>.",
        "",
        " !     Warning: The runtime.txt file is deprecated.",
    ]
    assert lines[-len(WARM) - 8 :] == [*WARM, *launched(app.name, before.next_release, "(none)")]
    assert app.server.proc.poll() is None
