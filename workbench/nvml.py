"""GPU facts from NVML (the driver), read without any framework: the devices a machine has,
and the device memory one process holds.

Without a GPU (or without NVML) every figure here is ``None`` (stored as NaN), never 0:
a CPU run has not measured a GPU. The parent reads the device list for the environment
record; the trial reads its own process's figure. ``nvml`` can be a stand-in in tests, for a
GPU that does not exist on the test machine.
"""

from __future__ import annotations

import os
from typing import Any

MIB = 2**20


def _nvml():
    try:
        import pynvml  # from nvidia-ml-py
    except ImportError:
        return None
    try:
        pynvml.nvmlInit()
    except Exception:  # NVMLError_LibraryNotFound, DriverNotLoaded, ...
        return None
    return pynvml


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def nvml_devices(nvml: Any = None) -> list[dict[str, Any]]:
    """Name, driver and total memory of each NVIDIA GPU; [] where NVML or a GPU is missing."""
    nvml = nvml if nvml is not None else _nvml()
    if nvml is None:
        return []
    try:
        driver = _text(nvml.nvmlSystemGetDriverVersion())
        devices = []
        for index in range(nvml.nvmlDeviceGetCount()):
            handle = nvml.nvmlDeviceGetHandleByIndex(index)
            devices.append({
                "index": index,
                "name": _text(nvml.nvmlDeviceGetName(handle)),
                "driver": driver,
                "memory_total_bytes": int(nvml.nvmlDeviceGetMemoryInfo(handle).total),
            })
        return devices
    except Exception:
        return []


def visible_device_handle(nvml: Any) -> Any:
    """NVML's handle of the GPU this process's CUDA sees first. NVML numbers every GPU of the
    machine and ignores ``CUDA_VISIBLE_DEVICES``, which a scheduler (Ray's ``num_gpus``) sets
    to give a process one GPU: ``CUDA_VISIBLE_DEVICES=3`` is NVML's device 3, not 0."""
    first = os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",")[0].strip()
    if first.startswith(("GPU-", "MIG-")):
        return nvml.nvmlDeviceGetHandleByUUID(first)
    return nvml.nvmlDeviceGetHandleByIndex(int(first) if first.isdigit() else 0)


def visible_device_total_bytes(nvml: Any = None) -> int | None:
    """Total memory of the GPU this process's CUDA sees first (to turn a simulated budget into
    a fraction of the card, before any framework starts CUDA); None without NVML or a GPU."""
    nvml = nvml if nvml is not None else _nvml()
    if nvml is None:
        return None
    try:
        return int(nvml.nvmlDeviceGetMemoryInfo(visible_device_handle(nvml)).total)
    except Exception:
        return None


class NvmlProcessMemory:
    """Device memory held by this process on one GPU, as the driver sees it (CUDA context,
    cuDNN/cuBLAS workspaces and TF's allocator pool together).

    TF's allocator keeps the memory it took from the device, so the figure read after the
    prediction phase is that phase's device-level high-water mark. Where the driver does not
    list this process (another PID namespace), the rise of the device's used memory since
    :meth:`start` is used instead, and :attr:`method` says so.
    """

    def __init__(self, device_index: int | None = None, pid: int | None = None, nvml: Any = None) -> None:
        self.nvml = nvml if nvml is not None else _nvml()
        self.pid = pid if pid is not None else os.getpid()
        self.handle = None
        self.method: str | None = None
        self._used_at_start: int | None = None
        if self.nvml is not None:
            try:
                self.handle = (visible_device_handle(self.nvml) if device_index is None  # CUDA's first GPU
                               else self.nvml.nvmlDeviceGetHandleByIndex(device_index))
            except Exception:
                self.handle = None

    @property
    def available(self) -> bool:
        return self.handle is not None

    def start(self) -> None:
        """Note the device's used memory before this process touches the GPU."""
        if self.handle is not None:
            self._used_at_start = int(self.nvml.nvmlDeviceGetMemoryInfo(self.handle).used)

    def used_bytes(self) -> int | None:
        if self.handle is None:
            return None
        try:
            for proc in self.nvml.nvmlDeviceGetComputeRunningProcesses(self.handle):
                if proc.pid == self.pid and proc.usedGpuMemory is not None:
                    self.method = "nvml_process"
                    return int(proc.usedGpuMemory)
            if self._used_at_start is not None:
                self.method = "nvml_device_delta"
                used = int(self.nvml.nvmlDeviceGetMemoryInfo(self.handle).used)
                return max(used - self._used_at_start, 0)
        except Exception:
            return None
        return None
