"""The fork server: a trial per forked child, and a new server when the old one has gone."""

from __future__ import annotations

import time

import pytest

from workbench.launcher import ForkServer
from workbench.results import Status
from workbench.runner import run_trial

pytestmark = pytest.mark.slow


def test_an_idle_server_exits_and_the_next_trial_starts_a_new_one(tiny_trial):
    server = ForkServer(idle_s=1.0)
    try:
        first = run_trial(tiny_trial(), launcher=server)
        assert first.status is Status.OK and first.launcher == "fork"
        old_pid = server.proc.pid
        deadline = time.monotonic() + 10
        while server.proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        assert server.proc.poll() is not None, "the server should exit after 1 s idle"
        second = run_trial(tiny_trial(batch_size=4), launcher=server)
        assert second.status is Status.OK
        assert server.proc.pid != old_pid
    finally:
        server.close()


def test_a_trial_whose_server_dies_is_recorded_and_the_next_one_runs(tiny_trial):
    server = ForkServer()
    try:
        import os
        import signal
        import threading

        def kill_server_soon():
            time.sleep(0.5)
            os.kill(server.proc.pid, signal.SIGKILL)  # the server dies mid-trial; its child with it

        run_trial(tiny_trial(), launcher=server)  # warm
        threading.Thread(target=kill_server_soon, daemon=True).start()
        hung = run_trial(tiny_trial(fault="hang"), launcher=server)
        assert hung.status is Status.OOM  # killed by SIGKILL, no result written
        after = run_trial(tiny_trial(batch_size=2), launcher=server)
        assert after.status is Status.OK
    finally:
        server.close()
