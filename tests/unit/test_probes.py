"""Probes: the kernel high-water mark catches short spikes; GPU probes degrade to None.

The GPU tests use stand-ins for TensorFlow's and NVML's APIs, because no GPU exists on the
test machine: they check our logic (which calls, which figures, None when absent), not a GPU.
"""

from __future__ import annotations

import threading
import time
from types import SimpleNamespace

import numpy as np
import pytest

from workbench.nvml import NvmlProcessMemory, nvml_devices
from workbench.trial.probes import host
from workbench.trial.probes.gpu import TfAllocatorPeak, configure_tf_gpus, is_gpu_oom
from workbench.trial.probes.timing import latency_stats, percentile

MIB = 2**20

needs_hwm = pytest.mark.skipif(not host.self_check(), reason="needs Linux VmHWM and /proc/self/clear_refs")


@needs_hwm
def test_vmhwm_catches_a_spike_that_is_gone_before_we_look():
    probe = host.HostPeak()
    assert probe.method == "vmhwm"
    probe.reset()
    before = host.current_rss_bytes()
    block = np.ones(200 * MIB, dtype=np.uint8)  # touched: resident
    del block  # freed before the peak is read
    after = host.current_rss_bytes()
    peak = probe.peak()
    assert after < before + 50 * MIB, "the block should be gone again"
    assert peak >= before + 190 * MIB


@needs_hwm
def test_reset_starts_a_new_phase():
    probe = host.HostPeak()
    probe.reset()
    block = np.ones(150 * MIB, dtype=np.uint8)
    del block
    first = probe.peak()
    probe.reset()
    second = probe.peak()
    assert second < first - 100 * MIB


def test_sampler_fallback_is_marked_and_sees_a_held_allocation():
    probe = host.HostPeak(sample_interval_s=0.001, force_sampler=True)
    assert probe.method == "sampled"
    probe.reset()
    base = host.current_rss_bytes()
    block = np.ones(120 * MIB, dtype=np.uint8)
    time.sleep(0.05)  # held long enough for a 1 ms sampler
    del block
    peak = probe.peak()
    probe.close()
    assert peak >= base + 100 * MIB


def test_status_parser_reads_kib():
    text = "Name:\tpython\nVmHWM:\t  2048 kB\nVmRSS:\t 1024 kB\n"
    assert host._status_kib("VmHWM", text) == 2048 * 1024
    assert host._status_kib("VmSwap", text) is None


def test_percentiles_match_numpy():
    rng = np.random.default_rng(1)
    samples = list(rng.exponential(0.01, size=101))
    stats = latency_stats(samples)
    for q, key in ((50, "latency_p50_s"), (90, "latency_p90_s"), (99, "latency_p99_s")):
        assert stats[key] == pytest.approx(np.percentile(samples, q))
    assert stats["latency_mean_s"] == pytest.approx(np.mean(samples))
    assert np.isnan(percentile([], 50))


# ---- GPU: stand-ins for the real APIs (no GPU exists here) --------------------------------

class FakeExperimental:
    def __init__(self) -> None:
        self.calls: list[tuple] = []
        self.peak = 0

    def set_memory_growth(self, gpu, flag):
        self.calls.append(("growth", gpu, flag))

    def reset_memory_stats(self, device):
        self.calls.append(("reset", device))
        self.peak = 0

    def get_memory_info(self, device):
        return {"current": 10, "peak": self.peak}

    def get_device_details(self, gpu):
        return {"device_name": "Fake H100"}


class FakeConfig:
    def __init__(self, gpus: list[str]) -> None:
        self.gpus = gpus
        self.experimental = FakeExperimental()
        self.calls: list[tuple] = []
        self.LogicalDeviceConfiguration = lambda memory_limit: ("logical", memory_limit)

    def list_physical_devices(self, kind):
        return list(self.gpus)

    def list_logical_devices(self, kind):
        return list(self.gpus)

    def set_visible_devices(self, gpu, kind):
        self.calls.append(("visible", gpu))

    def set_logical_device_configuration(self, gpu, configs):
        self.calls.append(("logical", gpu, configs))


def fake_tf(gpus):
    return SimpleNamespace(config=FakeConfig(gpus))


def test_no_gpu_means_no_figures_not_zero():
    tf = fake_tf([])
    info = configure_tf_gpus(tf, None)
    assert info == {"gpu_present": False, "gpu_budget_enforced": False, "gpu_name": None}
    allocator = TfAllocatorPeak(tf)
    allocator.reset()
    assert allocator.peak() is None


def test_memory_growth_without_budget_and_allocator_peak():
    tf = fake_tf(["GPU0", "GPU1"])
    info = configure_tf_gpus(tf, None)
    assert info["gpu_present"] and not info["gpu_budget_enforced"]
    assert info["gpu_name"] == "Fake H100"
    assert ("growth", "GPU0", True) in tf.config.experimental.calls
    assert ("growth", "GPU1", True) in tf.config.experimental.calls
    allocator = TfAllocatorPeak(tf)
    allocator.reset()
    tf.config.experimental.peak = 123 * MIB
    assert allocator.peak() == 123 * MIB


def test_simulated_budget_is_a_logical_device_limit_in_mib():
    tf = fake_tf(["GPU0", "GPU1"])
    info = configure_tf_gpus(tf, 8 * 2**30)
    assert info["gpu_budget_enforced"]
    assert ("visible", "GPU0") in tf.config.calls
    assert ("logical", "GPU0", [("logical", 8192)]) in tf.config.calls
    assert not any(c[0] == "growth" for c in tf.config.experimental.calls)  # TF forbids both


class FakeNvml:
    def __init__(self, procs, used):
        self.procs, self.used = procs, used

    def nvmlDeviceGetHandleByIndex(self, i):
        return f"h{i}"

    def nvmlDeviceGetMemoryInfo(self, handle):
        return SimpleNamespace(used=self.used, total=80 * 2**30)

    def nvmlDeviceGetComputeRunningProcesses(self, handle):
        return self.procs

    def nvmlSystemGetDriverVersion(self):
        return b"550.54"

    def nvmlDeviceGetCount(self):
        return 1

    def nvmlDeviceGetName(self, handle):
        return "NVIDIA H100"


def test_nvml_per_process_figure_and_fallback():
    nvml = FakeNvml([SimpleNamespace(pid=7, usedGpuMemory=900 * MIB)], used=5000 * MIB)
    probe = NvmlProcessMemory(pid=7, nvml=nvml)
    probe.start()
    assert probe.used_bytes() == 900 * MIB and probe.method == "nvml_process"
    # another PID namespace: the process is not listed, the device's rise is used instead
    other = NvmlProcessMemory(pid=8, nvml=nvml)
    other.start()
    nvml.used = 5600 * MIB
    assert other.used_bytes() == 600 * MIB and other.method == "nvml_device_delta"


def test_nvml_absent_is_none():
    probe = NvmlProcessMemory(nvml=None)
    probe.nvml = None
    probe.handle = None
    assert not probe.available
    assert probe.used_bytes() is None


def test_nvml_devices_lists_the_gpu():
    devices = nvml_devices(FakeNvml([], 0))
    assert devices == [{"index": 0, "name": "NVIDIA H100", "driver": "550.54", "memory_total_bytes": 80 * 2**30}]


def test_gpu_oom_recognised_by_name():
    class ResourceExhaustedError(Exception):
        pass

    assert is_gpu_oom(ResourceExhaustedError("x"))
    assert is_gpu_oom(RuntimeError("OOM when allocating tensor with shape[64,112,112,32]"))
    assert not is_gpu_oom(ValueError("bad shape"))


def test_sampler_thread_is_a_daemon():
    probe = host.HostPeak(force_sampler=True)
    probe.reset()
    threads = [t for t in threading.enumerate() if t.name == "host-peak-sampler"]
    probe.close()
    assert threads and all(t.daemon for t in threads)
