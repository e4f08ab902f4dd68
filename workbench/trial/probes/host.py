"""Host memory of this process, from the kernel's own high-water mark.

On Linux the kernel keeps ``VmHWM`` (peak resident set) for every process, and writing ``5``
to ``/proc/self/clear_refs`` resets it to the current resident size. Reading it costs nothing
while the process runs and misses no spike, however short. Where that is not available (not
Linux, or clear_refs not writable) a sampler thread polls the resident size instead, and the
figure is marked ``sampled``: it can miss spikes shorter than its interval.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

from workbench.types import PeakMethod

_STATUS = Path("/proc/self/status")
_CLEAR_REFS = Path("/proc/self/clear_refs")


def _status_kib(field: str, status_text: str | None = None) -> int | None:
    text = status_text if status_text is not None else _STATUS.read_text()
    for line in text.splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    return None


def current_rss_bytes() -> int:
    """Resident memory of this process now."""
    try:
        value = _status_kib("VmRSS")
        if value is not None:
            return value
    except OSError:
        pass
    import psutil

    return psutil.Process().memory_info().rss


def _hwm_supported() -> bool:
    try:
        if _status_kib("VmHWM") is None:
            return False
        with _CLEAR_REFS.open("w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


class HostPeak:
    """Peak resident memory of this process between :meth:`reset` and :meth:`peak`."""

    def __init__(self, sample_interval_s: float = 0.001, force_sampler: bool = False) -> None:
        self.method: PeakMethod = "sampled" if force_sampler or not _hwm_supported() else "vmhwm"
        self._interval = sample_interval_s
        self._sampled_peak = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def reset(self) -> None:
        """Start a new phase: the peak restarts from the current resident size."""
        if self.method == "vmhwm":
            with _CLEAR_REFS.open("w") as fh:
                fh.write("5")
            return
        self._sampled_peak = current_rss_bytes()
        if self._thread is None:
            self._thread = threading.Thread(target=self._sample, name="host-peak-sampler", daemon=True)
            self._thread.start()

    def _sample(self) -> None:
        while not self._stop.wait(self._interval):
            rss = current_rss_bytes()
            if rss > self._sampled_peak:
                self._sampled_peak = rss

    def peak(self) -> int:
        """The highest resident size since the last reset."""
        if self.method == "vmhwm":
            value = _status_kib("VmHWM")
            assert value is not None
            return value
        return max(self._sampled_peak, current_rss_bytes())

    def close(self) -> None:
        self._stop.set()


def self_check() -> bool:
    """True when this process's high-water mark can be reset (used by the tests)."""
    return _hwm_supported() and os.name == "posix"
