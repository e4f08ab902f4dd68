"""The fork server's own side: import Keras (and its backend) once, then fork a child per trial.

One server runs one Keras backend (``KERAS_BACKEND``, the second argument): Keras is imported
with it, and TensorFlow itself only for the ``tensorflow`` backend. No backend initialises a
device at import (JAX starts its backends on first use, PyTorch CUDA on first use, with
``PYTORCH_NVML_BASED_CUDA_CHECK`` so that Keras' availability check does not start it), so
CUDA never crosses a fork.

Protocol on stdin/stdout, one line each: the parent sends
``{"config": PATH, "result": PATH, "stderr": PATH}``; the server answers ``pid N`` when the
child has started and ``exit N CODE`` when it has ended (CODE negative: killed by that signal).
Started by :class:`workbench.engine.launcher.ForkServer`; not for use by hand.
"""

from __future__ import annotations

import json
import os
import select
import signal
import sys
import time

PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
MADV_POPULATE_READ = 22  # Linux 5.14+


def resident_file_ranges() -> list[tuple[int, int]]:
    """(address, length) runs of file-backed pages mapped in this process right now.

    After a fork the child's page tables lack these (Linux refaults file pages on demand), so
    the child's resident size would leave out the TensorFlow library pages that the import
    touched: a few hundred MB that any real program running ``predict`` holds. The child maps
    the same runs again before it measures, so its figures match a freshly started process.
    """
    import numpy as np

    runs: list[tuple[int, int]] = []
    try:
        with open("/proc/self/maps") as maps, open("/proc/self/pagemap", "rb") as pagemap:
            for line in maps:
                parts = line.split()
                if len(parts) < 6 or parts[4] == "0" or "r" not in parts[1]:
                    continue  # anonymous memory is copied by fork; unreadable maps are skipped
                start, end = (int(x, 16) for x in parts[0].split("-"))
                pagemap.seek(start // PAGE * 8)
                entries = np.frombuffer(pagemap.read((end - start) // PAGE * 8), dtype=np.uint64)
                present = ((entries >> np.uint64(63)) & np.uint64(1)).astype(np.int8)
                edges = np.flatnonzero(np.diff(np.concatenate(([0], present, [0]))))
                for a, b in zip(edges[::2], edges[1::2], strict=True):
                    runs.append((start + int(a) * PAGE, int(b - a) * PAGE))
    except OSError:
        return []
    return runs


def _map_again(runs: list[tuple[int, int]]) -> None:
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    libc.madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    for address, length in runs:
        libc.madvise(address, length, MADV_POPULATE_READ)  # best effort: an error leaves it as is


def _child(request: dict[str, str], runs: list[tuple[int, int]]) -> None:
    """In the forked child: own session, own output, the parent's pages, then the worker."""
    _map_again(runs)
    os.setsid()  # its own process group, so a kill takes anything it starts
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    devnull = os.open(os.devnull, os.O_RDONLY)
    err = os.open(request["stderr"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.dup2(devnull, 0)
    os.dup2(err, 1)
    os.dup2(err, 2)
    os.close(devnull)
    os.close(err)
    code = 1
    try:
        from workbench.trial import worker

        code = worker.main([request["config"], request["result"]])
    except BaseException:  # noqa: BLE001 - the child must never return into the server loop
        import traceback

        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def _wait_child(pid: int, parent: int) -> int:
    """Wait for a trial child; if the sweep's process dies meanwhile, take the child along.

    (PR_SET_PDEATHSIG cannot be used for the server itself: it fires when the *thread* that
    started the server ends, and a panel starts each sweep in a thread of its own.)
    """
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)
        if os.getppid() != parent:
            for kill in (os.killpg, os.kill):
                try:
                    kill(pid, signal.SIGKILL)
                    break
                except (ProcessLookupError, PermissionError):
                    continue
            os.waitpid(pid, 0)
            sys.exit(0)
        time.sleep(0.05)


def serve(idle_s: float, backend: str = "tensorflow") -> int:
    parent = os.getppid()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ["KERAS_BACKEND"] = backend  # before Keras is imported: it reads it once
    if backend == "torch":
        os.environ.setdefault("PYTORCH_NVML_BASED_CUDA_CHECK", "1")
    # The expensive part, paid once. Importing initialises no device: CUDA starts in the child.
    import keras  # noqa: F401

    if backend == "tensorflow":
        import tensorflow  # noqa: F401

    from workbench.trial import worker  # noqa: F401  (imported here so each child starts with it loaded)

    runs = resident_file_ranges()
    out = sys.stdout.buffer
    out.write(b"ready\n")
    out.flush()
    fd, buf = sys.stdin.fileno(), b""
    while True:
        while b"\n" not in buf:
            ready, _, _ = select.select([fd], [], [], idle_s)
            if not ready:
                return 0  # idle: the parent starts a new server when it needs one
            chunk = os.read(fd, 65536)
            if not chunk:
                return 0  # the parent closed the pipe or died
            buf += chunk
        line, _, buf = buf.partition(b"\n")
        request = json.loads(line)
        pid = os.fork()
        if pid == 0:
            _child(request, runs)
        out.write(f"pid {pid}\n".encode())
        out.flush()
        code = _wait_child(pid, parent)
        out.write(f"exit {pid} {code}\n".encode())
        out.flush()


if __name__ == "__main__":
    sys.exit(serve(float(sys.argv[1]) if len(sys.argv) > 1 else 300.0,
                   sys.argv[2] if len(sys.argv) > 2 else "tensorflow"))
