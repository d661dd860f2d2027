"""A PEP 503 package index over HTTP on 127.0.0.1:0, serving a directory of wheels.

Poetry and Pipenv read an app's declared sources (`[[tool.poetry.source]]`, Pipfile
`[[source]]`) as index URLs, not as find-links directories, so the tests serve their
wheelhouse as a real index:

    with SimpleIndex(wheelhouse) as index:
        index.url   # "http://127.0.0.1:PORT/simple/"

The pages are written once when the index starts (`refresh()` rewrites them after wheels are
added); each file link carries its sha256, as PyPI's do, so lockfiles record real hashes.
"""

from __future__ import annotations

import hashlib
import html
import re
import shutil
import tempfile
import threading
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType

from tests.support.wheelhouse import normalize


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


class SimpleIndex:
    """Serve the wheels of `wheels` (a directory) as a simple index until `stop()`."""

    def __init__(self, wheels: Path) -> None:
        self.wheels = wheels
        self._root = Path(tempfile.mkdtemp(prefix="simpleindex-"))
        self.refresh()
        handler = partial(_QuietHandler, directory=str(self._root))
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/simple/"

    def refresh(self) -> None:
        """(Re)write the index pages for every wheel now in `wheels`."""
        simple, files = self._root / "simple", self._root / "files"
        shutil.rmtree(simple, ignore_errors=True)
        files.mkdir(parents=True, exist_ok=True)
        projects: dict[str, list[str]] = {}
        for wheel in sorted(self.wheels.glob("*.whl")):
            target = files / wheel.name
            if not target.exists():
                shutil.copyfile(wheel, target)
            digest = hashlib.sha256(target.read_bytes()).hexdigest()
            name = normalize(re.split(r"-\d", wheel.name, maxsplit=1)[0])
            link = f"../../files/{html.escape(wheel.name)}#sha256={digest}"
            projects.setdefault(name, []).append(f'<a href="{link}">{html.escape(wheel.name)}</a>')
        for name, links in projects.items():
            page = simple / name / "index.html"
            page.parent.mkdir(parents=True, exist_ok=True)
            page.write_text(_page(links))
        simple.mkdir(exist_ok=True)
        root_links = [f'<a href="{n}/">{n}</a>' for n in sorted(projects)]
        (simple / "index.html").write_text(_page(root_links))

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        shutil.rmtree(self._root, ignore_errors=True)

    def __enter__(self) -> SimpleIndex:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def _page(links: list[str]) -> str:
    body = "<br/>\n".join(links)
    return f"<!DOCTYPE html>\n<html><body>\n{body}\n</body></html>\n"
