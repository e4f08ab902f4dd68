"""GPU memory per Keras backend, each from the framework's own allocator (trial side).

One probe per backend, the same calls for all (:class:`GpuProbe`): ``reset()`` before
warm-up, ``peak()`` after the first pass and after all of them, ``reserved_peak()`` where the
framework has such a figure. The device-level figure (what ``nvidia-smi`` shows, the CUDA
context included) comes from NVML for every backend (:mod:`workbench.nvml`).

* TensorFlow: ``reset_memory_stats`` + ``get_memory_info('GPU:0')['peak']``, memory growth on;
  a simulated budget is a logical device with that memory limit (:mod:`.gpu`).
* JAX: ``device.memory_stats()['peak_bytes_in_use']``. JAX has no reset: the peak covers the
  trial process from its start (the weights are on the device from the build on anyway). By
  default JAX pre-allocates 75 % of the card when it starts (``XLA_PYTHON_CLIENT_PREALLOCATE``,
  recorded in ``gpu_preallocated``): the allocator figure is what it used, NVML's what the card
  gave it. A simulated budget is ``XLA_PYTHON_CLIENT_MEM_FRACTION`` (budget / the card's total,
  from NVML), set before JAX starts its GPU backend: it caps JAX's allocator whether or not it
  pre-allocates.
* PyTorch: ``torch.cuda.reset_peak_memory_stats`` + ``max_memory_allocated`` (and
  ``max_memory_reserved``, what its caching allocator held); a simulated budget is
  ``torch.cuda.set_per_process_memory_fraction``.

Every function takes the framework module (or the environment) as an argument so the unit
tests can pass stand-ins for a GPU that does not exist on the test machine. Without a GPU every
figure is ``None`` (stored as NaN), never 0.
"""

from __future__ import annotations

import math
import os
from collections.abc import MutableMapping
from typing import Any

from workbench.trial.probes.gpu import TfAllocatorPeak, configure_tf_gpus

FRACTION_DIGITS = 4  # XLA_PYTHON_CLIENT_MEM_FRACTION, rounded down so the limit stays under the budget


class GpuProbe:
    """What a trial learns about its GPU: present, name, budget in force, pre-allocation, and
    the allocator's peak. This base class is the no-GPU probe: every figure None."""

    method: str | None = None  # how the peak is read (``gpu_peak_method``)

    def __init__(self) -> None:
        self.present = False
        self.name: str | None = None
        self.budget_enforced = False
        self.preallocated: bool | None = None
        self.note: str | None = None  # why a budget was not enforced, in words

    def info(self) -> dict[str, Any]:
        """The fields the worker has always read: ``gpu_present``, ``gpu_budget_enforced``, ``gpu_name``."""
        return {"gpu_present": self.present, "gpu_budget_enforced": self.budget_enforced, "gpu_name": self.name}

    def reset(self) -> None:
        """Start a new peak (where the framework can)."""

    def peak(self) -> int | None:
        """Peak bytes the framework's allocator handed out; None without a GPU."""
        return None

    def reserved_peak(self) -> int | None:
        """Peak bytes the allocator held from the device (PyTorch's reserved); None elsewhere."""
        return None


class TfGpu(GpuProbe):
    """TensorFlow: memory growth, or a logical device limited to the budget (:mod:`.gpu`)."""

    method = "tf_allocator"

    def __init__(self, tf: Any, gpu_budget_bytes: int | None) -> None:
        super().__init__()
        info = configure_tf_gpus(tf, gpu_budget_bytes)
        self.present, self.name = info["gpu_present"], info["gpu_name"]
        self.budget_enforced = info["gpu_budget_enforced"]
        # A logical device with a memory limit takes its whole limit up front; growth takes as needed.
        self.preallocated = self.budget_enforced if self.present else None
        self.allocator = TfAllocatorPeak(tf)

    def reset(self) -> None:
        self.allocator.reset()

    def peak(self) -> int | None:
        return self.allocator.peak() if self.present else None


def jax_memory_fraction(gpu_budget_bytes: int, device_total_bytes: int) -> float | None:
    """``XLA_PYTHON_CLIENT_MEM_FRACTION`` for a budget on a card of ``device_total_bytes``,
    rounded down; None when the budget is not below the card (nothing to simulate)."""
    if not device_total_bytes or gpu_budget_bytes >= device_total_bytes:
        return None
    scale = 10**FRACTION_DIGITS
    return max(math.floor(gpu_budget_bytes / device_total_bytes * scale), 1) / scale


def configure_jax_env(gpu_budget_bytes: int | None, device_total_bytes: int | None,
                      environ: MutableMapping[str, str] = os.environ) -> dict[str, Any]:
    """Set JAX's allocator options in ``environ`` before JAX starts its GPU backend (it reads
    them once, then). Returns ``preallocated`` (JAX's default: yes, unless the user's
    ``XLA_PYTHON_CLIENT_PREALLOCATE`` says false), ``budget_enforced``, ``fraction`` and, where
    the budget could not be set, ``note``."""
    preallocate = environ.get("XLA_PYTHON_CLIENT_PREALLOCATE", "true").strip().lower() not in ("false", "0", "no")
    out: dict[str, Any] = {"preallocated": preallocate, "budget_enforced": False, "fraction": None, "note": None}
    if not gpu_budget_bytes:
        return out
    if not device_total_bytes:
        out["note"] = "the GPU's total memory is unknown (no NVML), so the budget could not be set"
        return out
    fraction = jax_memory_fraction(gpu_budget_bytes, device_total_bytes)
    if fraction is None:
        out["note"] = "the budget is not below the card's memory: nothing to simulate"
        return out
    environ["XLA_PYTHON_CLIENT_MEM_FRACTION"] = f"{fraction:.{FRACTION_DIGITS}f}"
    out.update(budget_enforced=True, fraction=fraction)
    return out


class JaxGpu(GpuProbe):
    """JAX: the first GPU device's ``memory_stats()`` (``env``: :func:`configure_jax_env`'s answer)."""

    method = "jax_allocator_since_start"

    def __init__(self, jax: Any, env: dict[str, Any]) -> None:
        super().__init__()
        try:
            gpus = [d for d in jax.devices() if d.platform == "gpu"]
        except RuntimeError:  # no backend at all: nothing to measure
            gpus = []
        self.device = gpus[0] if gpus else None
        self.present = self.device is not None
        if self.present:
            self.name = str(getattr(self.device, "device_kind", None) or "GPU")
            self.preallocated = bool(env.get("preallocated"))
            self.budget_enforced = bool(env.get("budget_enforced"))
            self.note = env.get("note")

    def _stats(self) -> dict[str, Any]:
        stats = self.device.memory_stats() if self.device is not None else None
        return stats if isinstance(stats, dict) else {}

    def peak(self) -> int | None:
        value = self._stats().get("peak_bytes_in_use")
        return int(value) if value is not None else None


class TorchGpu(GpuProbe):
    """PyTorch on ``cuda:0``: its caching allocator's peaks; a budget as a memory fraction."""

    method = "torch_allocator"

    def __init__(self, torch: Any, gpu_budget_bytes: int | None) -> None:
        super().__init__()
        cuda = torch.cuda
        self.cuda = cuda
        self.present = bool(cuda.is_available())
        if not self.present:
            return
        self.name = str(cuda.get_device_name(0))
        self.preallocated = False  # the caching allocator takes from the device as it needs
        if gpu_budget_bytes:
            total = int(cuda.get_device_properties(0).total_memory)
            if gpu_budget_bytes < total:
                cuda.set_per_process_memory_fraction(gpu_budget_bytes / total, 0)
                self.budget_enforced = True
            else:
                self.note = "the budget is not below the card's memory: nothing to simulate"

    def reset(self) -> None:
        if self.present:
            self.cuda.reset_peak_memory_stats(0)

    def peak(self) -> int | None:
        return int(self.cuda.max_memory_allocated(0)) if self.present else None

    def reserved_peak(self) -> int | None:
        return int(self.cuda.max_memory_reserved(0)) if self.present else None


def injected_oom(backend: str, tf: Any = None) -> BaseException:
    """The error this backend raises when the device runs out (the ``raise_oom`` fault): made
    with the framework's own class, so the classification is tested on the real thing."""
    if backend == "tensorflow":
        return tf.errors.ResourceExhaustedError(None, None, "OOM when allocating tensor (injected)")
    if backend == "jax":
        import jax

        error = getattr(jax.errors, "JaxRuntimeError", None)  # XlaRuntimeError before JAX 0.4.36
        if error is None:
            from jax.lib import xla_client  # type: ignore[attr-defined]

            error = xla_client.XlaRuntimeError
        return error("RESOURCE_EXHAUSTED: Out of memory while trying to allocate (injected)")
    import torch

    return torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate (injected)")
