"""Dynos a previous server left behind: it was killed before it could stop them."""

from __future__ import annotations

import signal

from gitserver.datadir import DataDir
from gitserver.processes import group_members, is_same_process, signal_group
from gitserver.runner.dynos import OWNER, heroku_log
from gitserver.store import Store


def reap_orphans(store: Store, data: DataDir) -> None:
    """Kill the formation dynos still recorded (their process group, known by pid and start
    time), and forget the records of one-offs whose `run` died without cleaning up."""
    for record in store.dynos():
        if record.owner == OWNER:
            pgid = record.pid or 0
            if pgid and (is_same_process(record.pid, record.proc_start) or group_members(pgid)):
                heroku_log(
                    data, record.app, record.name, "Stopping a dyno left by a previous server"
                )
                signal_group(pgid, signal.SIGKILL)
            store.delete_dyno(record.id)
        elif not is_same_process(record.pid, record.proc_start):
            store.delete_dyno(record.id)
