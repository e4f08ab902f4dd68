"""GPU memory as TensorFlow's allocator sees it, TF's GPU options, and what a GPU
out-of-memory error looks like on each Keras backend (trial side).

The device-level figure comes from :mod:`workbench.nvml`; JAX and PyTorch have their own
probes in :mod:`workbench.trial.probes.gpu_backends`. Without a GPU every figure here is
``None`` (stored as NaN), never 0. The functions take the ``tf`` module as an argument so the
tests can pass a stand-in for a GPU that does not exist on the test machine.
"""

from __future__ import annotations

from typing import Any

MIB = 2**20


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


def gpu_oom_backend(exc: BaseException) -> str | None:
    """Which backend's device out-of-memory error ``exc`` is, by class name and message (no
    framework is imported to tell): TensorFlow's ``ResourceExhaustedError``; JAX's
    ``XlaRuntimeError`` (``JaxRuntimeError`` since JAX 0.4.36) saying ``RESOURCE_EXHAUSTED``;
    PyTorch's ``torch.cuda.OutOfMemoryError``. None for anything else."""
    names = {cls.__name__ for cls in type(exc).__mro__}
    text = str(exc)
    if "ResourceExhaustedError" in names or "OOM when allocating" in text:
        return "tensorflow"
    if names & {"XlaRuntimeError", "JaxRuntimeError"} and "RESOURCE_EXHAUSTED" in text:
        return "jax"
    if "OutOfMemoryError" in names or "CUDA out of memory" in text:
        return "torch"
    return None


def is_gpu_oom(exc: BaseException) -> bool:
    """True for a device out-of-memory error of any backend (see :func:`gpu_oom_backend`)."""
    return gpu_oom_backend(exc) is not None


def gpu_oom_status(exc: BaseException, gpu_budget_bytes: int | None, budget_enforced: bool) -> tuple[str, str] | None:
    """``(status, error)`` for a device out-of-memory error: ``over_budget`` when a simulated
    GPU budget was in force (the smaller card ran out), else ``oom`` (the real device did);
    None when ``exc`` is no such error."""
    if not is_gpu_oom(exc):
        return None
    line = oom_line(exc)
    if gpu_budget_bytes and budget_enforced:
        return "over_budget", f"GPU memory ran out under the simulated {gpu_budget_bytes / 2**30:.2f} GiB budget: {line}"
    return "oom", f"GPU out of memory: {line}"


OOM_MARKERS = ("RESOURCE_EXHAUSTED", "OOM when allocating", "CUDA out of memory", "Out of memory")


def oom_line(exc: BaseException) -> str:
    """The line of ``exc``'s message that says what ran out, else its first line. Wrapped errors
    put it further down: on the H200, JAX's autotuner led with "NOT_FOUND: Failed to get configs
    for: 2 out of 99 instructions ... Example failure:" and Keras wraps PyTorch's error in
    "Exception encountered when calling DepthwiseConv2D.call()."."""
    lines = [ln.strip() for ln in str(exc).strip().splitlines() if ln.strip()]
    if not lines:
        return type(exc).__name__
    return next((ln for ln in lines if any(m in ln for m in OOM_MARKERS)), lines[0])
