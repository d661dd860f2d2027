"""An attacker's probe: app A's build hooks, setup.py and web dyno run it against app B.

`probe_source(...)` is the text of `probe.py`, with what an attacker could know or guess (the
data directory, B's name, its dyno's pid and port, the server's pid, B's secret) written in.
Each check returns True when the attack reached its target. The probe prints one line
`PROBE <where> <json>` (and writes it to `probe-<where>.json` in its working directory); a web
dyno serves the same JSON on $PORT. Nothing here may succeed under the sandbox.
"""

from __future__ import annotations

PROBE = r'''
import json, os, socket, sqlite3, subprocess, sys, time

DATA, VICTIM, VICTIM_PID, VICTIM_PORT, SERVER_PID, SECRET = CONSTANTS


def read(path):
    with open(path, "rb") as f:
        f.read(1)
    return True


def read_source():
    out = subprocess.run(
        ["git", f"--git-dir={DATA}/repos/{VICTIM}.git", "show", "HEAD:marker.txt"],
        capture_output=True,
    ).stdout
    return b"victim-source" in out


def any_environ_has_secret():
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                if SECRET.encode() in open(f"/proc/{pid}/environ", "rb").read():
                    return True
            except OSError:
                pass
    return False


def write(path):
    with open(path, "ab") as f:
        f.write(b"evil")
    return True


def write_state():
    db = sqlite3.connect(f"file:{DATA}/state.db?mode=rw", uri=True)
    db.execute("CREATE TABLE evil (x)")
    db.commit()
    return True


def connect_victim():
    socket.create_connection(("127.0.0.1", VICTIM_PORT), timeout=3).close()
    return True


def signal_allowed(pid):
    os.kill(pid, 0)  # permission to signal (0 sends nothing)
    return True


ATTACKS = {
    "read_state_db": lambda: read(f"{DATA}/state.db"),
    "read_cluster_json": lambda: read(f"{DATA}/postgres/cluster.json"),
    "read_source": read_source,
    "list_slugs": lambda: bool(os.listdir(f"{DATA}/slugs/{VICTIM}")),
    "list_run_tree": lambda: bool(os.listdir(f"{DATA}/run/{VICTIM}")),
    "read_victim_environ": any_environ_has_secret,
    "read_server_environ": lambda: read(f"/proc/{SERVER_PID}/environ"),
    "write_ref": lambda: write(f"{DATA}/repos/{VICTIM}.git/refs/heads/evil"),
    "write_cache": lambda: write(f"{DATA}/cache/{VICTIM}/evil"),
    "write_state_db": write_state,
    "signal_victim_dyno": lambda: signal_allowed(VICTIM_PID),
    "signal_server": lambda: signal_allowed(SERVER_PID),
    "connect_victim_dyno": connect_victim,
}


def fork_bomb(limit=300):
    """How many processes could be started at once (the sandbox caps it)."""
    children = []
    try:
        for _ in range(limit):
            children.append(subprocess.Popen(["sleep", "30"]))
    except OSError:
        pass
    for child in children:
        child.kill()
        child.wait()
    return len(children)


def probe(where):
    reached = []
    for name, attack in ATTACKS.items():
        try:
            if attack():
                reached.append(name)
        except Exception:
            pass
    result = {"where": where, "reached": reached}
    if where != "setup":
        result["forked"] = fork_bomb()
        # A child in a session of its own, meant to outlive the step or dyno.
        subprocess.Popen(["setsid", "sleep", "3" + ("07" if where == "build" else "08")])
    return result


if __name__ == "__main__":
    where = sys.argv[1]
    result = probe(where)
    line = "PROBE " + where + " " + json.dumps(result)
    print(line, flush=True)
    if where == "web":
        from http.server import BaseHTTPRequestHandler, HTTPServer

        class Report(BaseHTTPRequestHandler):
            def do_GET(self):
                body = json.dumps(result).encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_HEAD = do_GET

        HTTPServer(("0.0.0.0", int(os.environ["PORT"])), Report).serve_forever()
'''

SETUP_PY = """\
import os, runpy, sys
from pathlib import Path
from setuptools import setup

here = Path(__file__).resolve().parent
probe = runpy.run_path(str(here.parent / "probe.py"))
(here.parent / "probe-setup.json").write_text(__import__("json").dumps(probe["probe"]("setup")))
setup(name="probepkg", version="1.0", py_modules=[])
"""

POST_COMPILE = """\
#!/bin/sh
python probe.py build
cat probe-setup.json | sed 's/^/PROBE setup /'
echo
"""


def probe_source(
    *, data_dir: str, victim: str, victim_pid: int, victim_port: int, server_pid: int, secret: str
) -> str:
    constants = repr((data_dir, victim, victim_pid, victim_port, server_pid, secret))
    return PROBE.replace("CONSTANTS", constants, 1)
