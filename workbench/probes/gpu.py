"""GPU memory: TensorFlow's allocator peak and the device-level figure from NVML.

Without a GPU (or without NVML) every figure here is ``None`` (stored as NaN), never 0:
a CPU run has not measured a GPU. The functions take the ``tf`` module as an argument so the
parent process never imports TensorFlow and the tests can pass a stand-in for a GPU that
does not exist on the test machine.
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


class NvmlProcessMemory:
    """Device memory held by this process on one GPU, as the driver sees it (CUDA context,
    cuDNN/cuBLAS workspaces and TF's allocator pool together).

    TF's allocator keeps the memory it took from the device, so the figure read after the
    prediction phase is that phase's device-level high-water mark. Where the driver does not
    list this process (another PID namespace), the rise of the device's used memory since
    :meth:`start` is used instead, and :attr:`method` says so.
    """

    def __init__(self, device_index: int = 0, pid: int | None = None, nvml: Any = None) -> None:
        self.nvml = nvml if nvml is not None else _nvml()
        self.pid = pid if pid is not None else os.getpid()
        self.handle = None
        self.method: str | None = None
        self._used_at_start: int | None = None
        if self.nvml is not None:
            try:
                self.handle = self.nvml.nvmlDeviceGetHandleByIndex(device_index)
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


def configure_tf_gpus(tf: Any, gpu_budget_bytes: int | None) -> dict[str, Any]:
    """Set GPU options before TF initialises the devices.

    Without a budget: memory growth on every GPU, so the allocator takes what the model needs
    instead of nearly the whole card (the peak then means something). With a budget: only the
    first GPU is used, as a logical device limited to the budget, to rehearse a smaller card.
    (TF does not allow both on one device.)
    """
    gpus = tf.config.list_physical_devices("GPU")
    info: dict[str, Any] = {"gpu_present": bool(gpus), "gpu_budget_enforced": False, "gpu_name": None}
    if not gpus:
        return info
    if gpu_budget_bytes:
        tf.config.set_visible_devices(gpus[0], "GPU")
        tf.config.set_logical_device_configuration(
            gpus[0], [tf.config.LogicalDeviceConfiguration(memory_limit=max(int(gpu_budget_bytes // MIB), 1))]
        )
        info["gpu_budget_enforced"] = True
    else:
        for gpu in gpus:
            tf.config.experimental.set_memory_growth(gpu, True)
    try:
        details = tf.config.experimental.get_device_details(gpus[0])
        info["gpu_name"] = details.get("device_name")
    except Exception:
        pass
    return info


class TfAllocatorPeak:
    """Peak bytes held by TF's GPU allocator on ``GPU:0`` between :meth:`reset` and :meth:`peak`."""

    def __init__(self, tf: Any, device: str = "GPU:0") -> None:
        self.tf = tf
        self.device = device
        self.available = bool(tf.config.list_logical_devices("GPU"))

    def reset(self) -> None:
        if self.available:
            self.tf.config.experimental.reset_memory_stats(self.device)

    def peak(self) -> int | None:
        if not self.available:
            return None
        return int(self.tf.config.experimental.get_memory_info(self.device)["peak"])


def is_gpu_oom(exc: BaseException) -> bool:
    """True for TF's out-of-memory error (by class name: the parent cannot import TF)."""
    names = {cls.__name__ for cls in type(exc).__mro__}
    return "ResourceExhaustedError" in names or "OOM when allocating" in str(exc)
