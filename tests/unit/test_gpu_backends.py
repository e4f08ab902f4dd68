"""GPU figures, budgets and out-of-memory statuses per Keras backend.

No GPU exists on the test machine, so the GPU paths run against STAND-INS for JAX's device
objects, ``torch.cuda``, TensorFlow's ``tf.config`` and NVML: they check our logic (which calls,
which figures, which fraction, which status), not a GPU. Where JAX or PyTorch is installed, the
real library is also asked on the CPU, where every GPU figure must be None (NaN), never 0, and
the out-of-memory classes are the real ones. bench/gpu_check.sh runs the real thing on a GPU.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from tests.unit.test_probes import FakeNvml, fake_tf
from workbench.nvml import visible_device_total_bytes
from workbench.trial.probes.gpu import gpu_oom_backend, gpu_oom_status
from workbench.trial.probes.gpu_backends import (
    GpuProbe,
    JaxGpu,
    TfGpu,
    TorchGpu,
    configure_jax_env,
    injected_oom,
    jax_memory_fraction,
)

GB, GIB, MIB = 10**9, 2**30, 2**20


# ---- JAX: XLA_PYTHON_CLIENT_MEM_FRACTION and memory_stats() ------------------------------

def test_jax_preallocates_by_default_and_the_users_setting_is_recorded():
    assert configure_jax_env(None, 80 * GIB, environ={}) == {
        "preallocated": True, "budget_enforced": False, "fraction": None, "note": None}
    assert configure_jax_env(None, 80 * GIB, environ={"XLA_PYTHON_CLIENT_PREALLOCATE": "false"})["preallocated"] is False


def test_a_jax_budget_is_a_memory_fraction_of_the_card_rounded_down():
    environ: dict[str, str] = {}
    info = configure_jax_env(2 * GB, 80 * GIB, environ=environ)
    assert info["budget_enforced"] and info["fraction"] == 0.0232  # 2e9 / 85.9e9 = 0.02328...
    assert environ == {"XLA_PYTHON_CLIENT_MEM_FRACTION": "0.0232"}
    assert 0.0232 * 80 * GIB <= 2 * GB  # the simulated card is never larger than the budget
    assert jax_memory_fraction(8 * GB, 141 * GB) == 0.0567
    assert jax_memory_fraction(1, 80 * GIB) == 0.0001  # the smallest fraction, not 0 (no limit)


def test_a_jax_budget_that_cannot_be_set_says_why_and_sets_nothing():
    environ: dict[str, str] = {}
    no_nvml = configure_jax_env(2 * GB, None, environ=environ)
    assert not no_nvml["budget_enforced"] and "total memory is unknown" in no_nvml["note"]
    too_big = configure_jax_env(100 * GIB, 80 * GIB, environ=environ)
    assert not too_big["budget_enforced"] and "not below the card" in too_big["note"]
    assert environ == {}


class FakeJaxDevice:
    def __init__(self, platform: str, stats: dict | None) -> None:
        self.platform, self.device_kind, self.stats = platform, "NVIDIA H100 80GB HBM3", stats

    def memory_stats(self):
        return self.stats


def fake_jax(*devices: FakeJaxDevice):
    return SimpleNamespace(devices=lambda: list(devices))


def test_jax_peak_is_the_allocators_peak_bytes_in_use():
    gpu = FakeJaxDevice("gpu", {"bytes_in_use": 300 * MIB, "peak_bytes_in_use": 1200 * MIB, "bytes_limit": 60 * GIB})
    probe = JaxGpu(fake_jax(gpu), {"preallocated": True, "budget_enforced": True})
    probe.reset()  # JAX has no reset: the peak is since the process started (said in the method)
    assert (probe.present, probe.name, probe.preallocated, probe.budget_enforced) == (
        True, "NVIDIA H100 80GB HBM3", True, True)
    assert probe.peak() == 1200 * MIB and probe.method == "jax_allocator_since_start"
    assert probe.reserved_peak() is None


def test_jax_without_a_gpu_or_without_stats_has_no_figures():
    cpu_only = JaxGpu(fake_jax(FakeJaxDevice("cpu", None)), {"preallocated": True})
    assert not cpu_only.present and cpu_only.peak() is None and cpu_only.preallocated is None
    no_stats = JaxGpu(fake_jax(FakeJaxDevice("gpu", None)), {})
    assert no_stats.present and no_stats.peak() is None


def test_real_jax_on_this_cpu_reports_no_gpu_figure():
    jax = pytest.importorskip("jax", reason="JAX is not installed (pip install '.[backends]')")
    probe = JaxGpu(jax, configure_jax_env(None, None, environ={}))
    assert probe.info() == {"gpu_present": False, "gpu_budget_enforced": False, "gpu_name": None}
    assert probe.peak() is None and probe.reserved_peak() is None


# ---- PyTorch: torch.cuda's caching allocator ---------------------------------------------

class FakeCuda:
    def __init__(self, available: bool = True) -> None:
        self.available, self.calls = available, []
        self.allocated, self.reserved = 0, 0

    def is_available(self):
        return self.available

    def get_device_name(self, index):
        return "NVIDIA H100 80GB HBM3"

    def get_device_properties(self, index):
        return SimpleNamespace(total_memory=80 * GIB)

    def set_per_process_memory_fraction(self, fraction, device):
        self.calls.append(("fraction", fraction, device))

    def reset_peak_memory_stats(self, device):
        self.calls.append(("reset", device))
        self.allocated = self.reserved = 0

    def max_memory_allocated(self, device):
        return self.allocated

    def max_memory_reserved(self, device):
        return self.reserved


def test_torch_budget_peaks_and_reserved():
    cuda = FakeCuda()
    probe = TorchGpu(SimpleNamespace(cuda=cuda), 2 * GB)
    assert probe.budget_enforced and cuda.calls == [("fraction", 2 * GB / (80 * GIB), 0)]
    probe.reset()
    cuda.allocated, cuda.reserved = 700 * MIB, 900 * MIB
    assert (probe.peak(), probe.reserved_peak()) == (700 * MIB, 900 * MIB)
    assert ("reset", 0) in cuda.calls and probe.preallocated is False and probe.method == "torch_allocator"
    unlimited = TorchGpu(SimpleNamespace(cuda=FakeCuda()), 100 * GIB)  # larger than the card
    assert not unlimited.budget_enforced and "not below the card" in unlimited.note


def test_torch_without_cuda_has_no_figures():
    cuda = FakeCuda(available=False)
    probe = TorchGpu(SimpleNamespace(cuda=cuda), 2 * GB)
    probe.reset()
    assert (probe.present, probe.budget_enforced, probe.peak(), probe.reserved_peak()) == (False, False, None, None)
    assert cuda.calls == []


def test_real_torch_on_this_cpu_reports_no_gpu_figure():
    torch = pytest.importorskip("torch", reason="PyTorch is not installed here (no local CPU wheel): "
                                                "bench/gpu_check.sh covers it on a GPU machine")
    probe = TorchGpu(torch, 2 * GB)
    assert not probe.present and probe.peak() is None and probe.reserved_peak() is None


# ---- TensorFlow through the same interface; the no-GPU probe ---------------------------------

def test_tf_probe_records_preallocation_only_for_a_budget():
    grown = TfGpu(fake_tf(["GPU0"]), None)
    assert (grown.present, grown.preallocated, grown.budget_enforced) == (True, False, False)
    limited = TfGpu(fake_tf(["GPU0"]), 8 * GIB)
    assert (limited.preallocated, limited.budget_enforced) == (True, True)
    none = TfGpu(fake_tf([]), None)
    assert none.peak() is None and none.preallocated is None
    assert GpuProbe().peak() is None and GpuProbe().info()["gpu_present"] is False


def test_nvml_gives_the_card_total_for_the_fraction():
    assert visible_device_total_bytes(FakeNvml([], 0)) == 80 * GIB
    assert visible_device_total_bytes(SimpleNamespace()) is None  # a broken NVML: unknown, not 0


# ---- out of memory: over_budget under a simulated budget, else oom -----------------------

def stand_in(name: str, message: str) -> BaseException:
    """An exception class of the framework's name (TensorFlow is not imported in unit tests)."""
    return type(name, (RuntimeError,), {})(message)


@pytest.mark.parametrize(("exc", "backend"), [
    (stand_in("ResourceExhaustedError", "OOM when allocating tensor with shape[512,112,112,96]"), "tensorflow"),
    (stand_in("XlaRuntimeError", "RESOURCE_EXHAUSTED: Out of memory while trying to allocate 2.3GiB"), "jax"),
    (stand_in("JaxRuntimeError", "RESOURCE_EXHAUSTED: Out of memory allocating 2465267712 bytes"), "jax"),
    (stand_in("OutOfMemoryError", "CUDA out of memory. Tried to allocate 2.30 GiB"), "torch"),
])
def test_each_backends_out_of_memory_error_is_recognised(exc, backend):
    assert gpu_oom_backend(exc) == backend
    status, error = gpu_oom_status(exc, 2 * GB, budget_enforced=True)
    assert status == "over_budget" and error.startswith("GPU memory ran out under the simulated 1.86 GiB budget: ")
    status, error = gpu_oom_status(exc, None, budget_enforced=False)
    assert status == "oom" and error == f"GPU out of memory: {str(exc).splitlines()[0]}"
    # a budget asked for but not enforced (no GPU, or larger than the card): the real device ran out
    assert gpu_oom_status(exc, 2 * GB, budget_enforced=False)[0] == "oom"


@pytest.mark.parametrize(("name", "message", "said"), [
    # the shapes of the two wrapped errors the H200 oom rerun recorded (docs/gpu/oom-only); the lines
    # below their first are stand-ins (only the first was kept), in each framework's own wording
    ("JaxRuntimeError", "NOT_FOUND: Failed to get configs for: 2 out of 99 instructions. See logs for all failures. "
     "Example failure: \nRESOURCE_EXHAUSTED: Out of memory while trying to allocate 301.25GiB.",
     "RESOURCE_EXHAUSTED: Out of memory while trying to allocate 301.25GiB."),
    ("OutOfMemoryError", "Exception encountered when calling DepthwiseConv2D.call().\n\n"
     "CUDA out of memory. Tried to allocate 39.22 GiB.", "CUDA out of memory. Tried to allocate 39.22 GiB."),
])
def test_a_wrapped_out_of_memory_error_is_told_by_the_line_that_says_so(name, message, said):
    status, error = gpu_oom_status(stand_in(name, message), None, budget_enforced=False)
    assert (status, error) == ("oom", f"GPU out of memory: {said}")


def test_other_errors_are_not_out_of_memory():
    assert gpu_oom_status(stand_in("XlaRuntimeError", "INVALID_ARGUMENT: shapes differ"), None, False) is None
    assert gpu_oom_status(ValueError("bad shape"), 2 * GB, True) is None


@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_the_real_out_of_memory_classes_are_recognised(backend):
    pytest.importorskip(backend, reason=f"{backend} is not installed here")
    exc = injected_oom(backend)
    assert gpu_oom_backend(exc) == backend
    assert gpu_oom_status(exc, 2 * GB, budget_enforced=True)[0] == "over_budget"
