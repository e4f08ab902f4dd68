"""How a trial process is started: a fresh interpreter, or a fork of a warm template.

``import tensorflow`` costs several seconds, which dominated every trial. The fork server
(``python -m workbench.trial.forkserver``) imports TensorFlow and Keras once, initialises nothing
(no device, no graph, no thread pools of TF's own), and forks one child per trial. Each trial
is still its own process, with its own memory, its own high-water mark and its own fate: a
crash, an out-of-memory kill or a hang ends that child only. GPU devices are initialised in
the child, after the fork, so CUDA never crosses a fork.

``spawn`` starts ``python -m workbench.trial.worker`` from scratch instead (and is used where fork is
not available). Pick with ``WORKBENCH_LAUNCHER=spawn|fork``.

Each Keras backend has its own fork server (:class:`ForkServers` keeps one warm per backend in
use): a server imports Keras with its ``KERAS_BACKEND`` set, and TensorFlow only for the
``tensorflow`` backend, so a JAX or PyTorch trial never loads TensorFlow's libraries.
"""

from __future__ import annotations

import atexit
import json
import os
import select
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Protocol, TypeVar

from workbench.backends import trial_env
from workbench.config import DEFAULT_BACKEND

READY_TIMEOUT_S = 180.0


class TrialProcess(Protocol):
    pid: int

    def wait(self, timeout: float) -> int | None:
        """The exit code (negative: killed by that signal), or None if still running."""

    def kill(self) -> None:
        """Kill the trial and everything it started; wait until it is gone."""


def worker_env(backend: str = DEFAULT_BACKEND) -> dict[str, str]:
    """The worker's environment: this package importable, TF's start-up chatter quiet, and the
    Keras backend (``KERAS_BACKEND``) set before anything imports Keras."""
    env = os.environ.copy()
    root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH", "")) if p)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    env["PYTHONUNBUFFERED"] = "1"
    env["PYTHONFAULTHANDLER"] = "1"  # a crash leaves a Python traceback in the stderr tail
    return trial_env(env, backend)


_Why = TypeVar("_Why")  # what ``stop`` returns: a reason to give up, or None to go on waiting


def wait_or_kill(proc: TrialProcess, step_s: float, stop: Callable[[], _Why]) -> tuple[int | None, _Why | None]:
    """Wait for ``proc`` to end in blocking waits of at most ``step_s`` (no spinning); after each
    wait it outlived, ask ``stop`` whether to give up. ``(exit code, None)`` when it ended by
    itself; when ``stop`` returns a reason (a budget, a timeout, a cancel), the process and what
    it started are killed and ``(exit code, reason)`` is returned."""
    while True:
        code = proc.wait(step_s)
        if code is not None:
            return code, None
        why = stop()
        if why is not None:
            proc.kill()
            return proc.wait(1.0), why


class SpawnedProcess:
    """A child started in a process group of its own (``start_new_session=True``), as a
    :class:`TrialProcess`: a kill takes its children too."""

    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        self.proc, self.pid = proc, proc.pid

    def wait(self, timeout: float) -> int | None:
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def kill(self) -> None:
        try:
            os.killpg(self.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            self.proc.kill()
        self.proc.wait()


class SpawnLauncher:
    """A fresh ``python -m workbench.trial.worker`` per trial (pays the TensorFlow import each time)."""

    name = "spawn"

    def __init__(self, python: str = sys.executable) -> None:
        self.python = python

    def launch(self, config: Path, result: Path, stderr: Path, cancel: threading.Event | None = None,
               backend: str = DEFAULT_BACKEND) -> TrialProcess | None:
        if cancel is not None and cancel.is_set():
            return None
        with stderr.open("wb") as err:
            return SpawnedProcess(subprocess.Popen(
                [self.python, "-m", "workbench.trial.worker", str(config), str(result)],
                stdin=subprocess.DEVNULL, stdout=err, stderr=err, env=worker_env(backend),
                start_new_session=True,  # its own process group: a kill takes its children too
            ))

    def close(self) -> None:
        pass


class _ForkedTrial:
    def __init__(self, server: ForkServer, pid: int) -> None:
        self.server, self.pid = server, pid
        self.code: int | None = None

    def wait(self, timeout: float) -> int | None:
        if self.code is None:
            try:
                self.code = self.server._wait_exit(self.pid, timeout)
            except BaseException:
                self.code = -signal.SIGKILL
                self.server._release()
                raise
            if self.code is not None:
                self.server._release()  # the next trial may start
        return self.code

    def kill(self) -> None:
        for target in (lambda: os.killpg(self.pid, signal.SIGKILL), lambda: os.kill(self.pid, signal.SIGKILL)):
            try:
                target()
                break
            except (ProcessLookupError, PermissionError):
                continue
        deadline = time.monotonic() + 30
        while self.wait(0.5) is None and time.monotonic() < deadline:
            pass


class ForkServer:
    """A warm process that has imported Keras (on ``backend``) and forks one child per trial.

    One trial at a time: a second sweep in the same process (two panels, a panel and a cell)
    waits for the running trial to end, so trials never overlap and compete for memory or
    cores (``busy``: a lock shared with the servers of other backends, see :class:`ForkServers`).
    The server exits by itself after ``idle_s`` without work, and with its parent; a dead
    server is started again on the next launch.
    """

    name = "fork"

    def __init__(self, python: str = sys.executable, idle_s: float = 300.0, backend: str = DEFAULT_BACKEND,
                 busy: threading.Lock | None = None) -> None:
        self.python, self.idle_s, self.backend = python, idle_s, backend
        self.proc: subprocess.Popen | None = None
        self._buf = b""
        self._busy = busy or threading.Lock()  # held from a trial's launch until its exit is known
        self._log: IO[bytes] | None = None  # the server's stderr

    # -- the server process ------------------------------------------------------------------
    def _release(self) -> None:
        if self._busy.locked():
            self._busy.release()

    def _start(self, cancel: threading.Event | None = None) -> bool:
        """Start the server; False if cancelled while it was importing TensorFlow."""
        import tempfile

        self._log = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(
            [self.python, "-m", "workbench.trial.forkserver", str(self.idle_s), self.backend],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._log, env=worker_env(self.backend),
            start_new_session=True,
        )
        self._buf = b""
        deadline = time.monotonic() + READY_TIMEOUT_S
        line = None
        while line is None and time.monotonic() < deadline:
            if cancel is not None and cancel.is_set():
                self.close()
                return False
            line = self._read_line(0.25)
        if line != "ready":
            self.close()
            raise RuntimeError(f"the fork server did not start (said {line!r})")
        return True

    def _alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def _read_line(self, timeout: float) -> str | None:
        """One line from the server, or None after ``timeout`` seconds; '' when it is gone."""
        if self.proc is None or self.proc.stdout is None:
            return ""
        deadline = time.monotonic() + timeout
        fd = self.proc.stdout.fileno()
        while b"\n" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            ready, _, _ = select.select([fd], [], [], left)
            if not ready:
                return None
            chunk = os.read(fd, 4096)
            if not chunk:
                return ""
            self._buf += chunk
        line, _, self._buf = self._buf.partition(b"\n")
        return line.decode().strip()

    # -- trials --------------------------------------------------------------------------------
    def launch(self, config: Path, result: Path, stderr: Path, cancel: threading.Event | None = None,
               backend: str = DEFAULT_BACKEND) -> TrialProcess | None:
        """Fork a trial; None if ``cancel`` was set while waiting for the server."""
        if backend != self.backend:
            raise ValueError(f"this fork server runs {self.backend} trials, not {backend}: use ForkServers")
        while not self._busy.acquire(timeout=0.2):  # another sweep's trial is running
            if cancel is not None and cancel.is_set():
                return None
        try:
            if not self._alive() and not self._start(cancel):
                self._release()
                return None
            request = (json.dumps({"config": str(config), "result": str(result), "stderr": str(stderr)}) + "\n").encode()
            try:
                self._send(request)
            except BrokenPipeError:  # the server just exited (idle): start a new one
                if not self._start(cancel):
                    self._release()
                    return None
                self._send(request)
            line = self._read_line(60.0) or ""
            if not line.startswith("pid "):
                raise RuntimeError(f"the fork server did not start a trial (said {line!r})")
        except BaseException:
            self._release()
            raise
        return _ForkedTrial(self, int(line.split()[1]))

    def _send(self, request: bytes) -> None:
        assert self.proc is not None and self.proc.stdin is not None
        self.proc.stdin.write(request)
        self.proc.stdin.flush()

    def _wait_exit(self, pid: int, timeout: float) -> int | None:
        line = self._read_line(timeout)
        if line is None:
            return None
        if line == "":  # the server died, and with it the trial (it dies with its parent)
            self.close()
            return -signal.SIGKILL
        kind, child, code = line.split()
        if kind != "exit" or int(child) != pid:
            raise RuntimeError(f"unexpected message from the fork server: {line!r}")
        return int(code)

    def close(self) -> None:
        if self.proc is not None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            self.proc.wait()
            for stream in (self.proc.stdin, self.proc.stdout):
                if stream is not None:
                    stream.close()
            self.proc = None


class ForkServers:
    """One :class:`ForkServer` per Keras backend in use, started on its first trial; still one
    trial at a time across all of them (they share one lock)."""

    name = "fork"

    def __init__(self, python: str = sys.executable, idle_s: float = 300.0) -> None:
        self.python, self.idle_s = python, idle_s
        self.servers: dict[str, ForkServer] = {}
        self._busy = threading.Lock()
        self._lock = threading.Lock()

    def server(self, backend: str = DEFAULT_BACKEND) -> ForkServer:
        """The fork server of ``backend`` (made on first use; its process starts on a launch)."""
        with self._lock:
            if backend not in self.servers:
                self.servers[backend] = ForkServer(self.python, self.idle_s, backend=backend, busy=self._busy)
            return self.servers[backend]

    def launch(self, config: Path, result: Path, stderr: Path, cancel: threading.Event | None = None,
               backend: str = DEFAULT_BACKEND) -> TrialProcess | None:
        """Fork a trial from ``backend``'s server; None if cancelled while waiting."""
        return self.server(backend).launch(config, result, stderr, cancel=cancel, backend=backend)

    def close(self) -> None:
        for server in list(self.servers.values()):
            server.close()


_shared: ForkServers | None = None
_shared_lock = threading.Lock()


def default_launcher() -> ForkServers | SpawnLauncher:
    """The launcher trials use unless told otherwise: shared fork servers (one per backend) on
    Linux (where ``fork`` is safe before a framework initialises anything), else a fresh
    process per trial."""
    global _shared
    choice = os.environ.get("WORKBENCH_LAUNCHER", "fork" if sys.platform.startswith("linux") else "spawn")
    if choice == "spawn":
        return SpawnLauncher()
    if choice != "fork":
        raise ValueError(f"WORKBENCH_LAUNCHER={choice!r}: use fork or spawn")
    with _shared_lock:
        if _shared is None:
            _shared = ForkServers()
            atexit.register(_shared.close)
        return _shared
