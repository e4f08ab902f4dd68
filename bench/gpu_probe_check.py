"""Check the GPU probes against a real GPU (run on a machine with an NVIDIA GPU).

TensorFlow may be absent there; this checks what does not need it: NVML device listing, the
per-process device memory figure while another framework (PyTorch, if installed) holds a known
allocation, and the environment record. Prints what it saw; exits non-zero on a mismatch.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from workbench.nvml import NvmlProcessMemory, nvml_devices  # noqa: E402
from workbench.results import environment  # noqa: E402

GIB = 2**30

HOLDER = """
import sys, time, torch
x = torch.empty(int(sys.argv[1]), dtype=torch.uint8, device="cuda")
x.fill_(1); torch.cuda.synchronize()
print("held", flush=True)
time.sleep(60)
"""


def main() -> int:
    devices = nvml_devices()
    print("nvml_devices:", json.dumps(devices))
    if not devices:
        print("no GPU visible through NVML")
        return 1
    env = environment()
    print("environment gpu:", env["gpu_name"], env["gpu_driver"])
    assert env["gpu_name"] == devices[0]["name"]
    try:
        import torch  # noqa: F401
    except ImportError:
        print("no torch here: skipping the allocation check")
        return 0
    size = 2 * GIB
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(size)], stdout=subprocess.PIPE, text=True)
    probe = NvmlProcessMemory(pid=holder.pid)
    probe.start()  # before the holder touches the GPU: the device-delta fallback needs this
    line = holder.stdout.readline().strip()
    assert line == "held", line
    time.sleep(0.5)
    used = probe.used_bytes()
    print(f"process {holder.pid}: NVML says {used / GIB:.2f} GiB ({probe.method}); it holds a 2.00 GiB tensor")
    holder.kill()
    ok = used is not None and size <= used < size + 2 * GIB  # the tensor plus the CUDA context
    print("OK" if ok else "MISMATCH")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
