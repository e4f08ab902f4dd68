"""The fork server: a trial per forked child, and a new server when the old one has gone."""

from __future__ import annotations

import time

import pytest

from workbench.engine.launcher import ForkServer
from workbench.engine.runner import run_trial
from workbench.results import Status

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


def test_two_sweeps_at_once_share_the_server_one_trial_at_a_time(tiny_trial):
    """Two panels (or a panel and a cell) in one kernel: trials queue, none overlap or fail."""
    import threading

    server = ForkServer()
    results: dict[int, object] = {}

    def run(batch: int) -> None:
        results[batch] = run_trial(tiny_trial(batch_size=batch), launcher=server)

    try:
        threads = [threading.Thread(target=run, args=(b,)) for b in (1, 2, 4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        assert {b: r.status for b, r in results.items()} == {1: Status.OK, 2: Status.OK, 4: Status.OK}
    finally:
        server.close()


def test_cancel_while_the_server_is_still_starting_returns_at_once(tiny_trial):
    import threading

    server = ForkServer()
    cancel = threading.Event()
    threading.Timer(0.5, cancel.set).start()
    t0 = time.monotonic()
    try:
        assert run_trial(tiny_trial(), launcher=server, cancel=cancel) is None
        assert time.monotonic() - t0 < 2.0
        assert server.proc is None  # the half-started server was stopped
    finally:
        server.close()
