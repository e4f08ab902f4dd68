"""Start a trial's Keras backend: the environment first, then the imports, then the GPU probe.

The order matters: ``KERAS_BACKEND`` is read once, when Keras is imported; JAX reads its
allocator options once, when it starts its GPU backend; TensorFlow's GPU options must be set
before it initialises its devices. TensorFlow is imported only for the ``tensorflow`` backend,
so a JAX or PyTorch trial runs where TensorFlow is not installed (a GPU machine with JAX and
PyTorch only) and never holds TensorFlow's libraries in its memory figures.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from workbench.config import TrialConfig
from workbench.nvml import visible_device_total_bytes
from workbench.trial.probes.gpu_backends import GpuProbe, JaxGpu, TfGpu, TorchGpu, configure_jax_env


@dataclass
class Runtime:
    """Keras on the trial's backend: the modules, the GPU probe and the backend's version."""

    backend: str
    keras: Any
    tf: Any  # the tensorflow module for the tensorflow backend, else None
    gpu: GpuProbe
    version: str | None


def start(cfg: TrialConfig) -> Runtime:
    """Import Keras on ``cfg.backend`` with the GPU set up for ``cfg.budget.gpu_bytes``.

    In a forked trial Keras is already imported (by its backend's fork server); a spawned
    worker imports it here, after ``KERAS_BACKEND`` is set. Either way the backend Keras runs
    on is checked against the trial's.
    """
    backend = cfg.backend
    os.environ["KERAS_BACKEND"] = backend
    jax_env: dict[str, Any] = {}
    if backend == "jax":  # before JAX starts its GPU backend (on its first device query)
        jax_env = configure_jax_env(cfg.budget.gpu_bytes, visible_device_total_bytes())
    if backend == "torch":
        os.environ.setdefault("PYTORCH_NVML_BASED_CUDA_CHECK", "1")
    import keras

    running = keras.backend.backend()
    if running != backend:
        raise RuntimeError(f"this trial process runs Keras on {running}, not {backend} (a fork server of "
                           "another backend?)")
    if backend == "tensorflow":
        import tensorflow as tf

        return Runtime(backend, keras, tf, TfGpu(tf, cfg.budget.gpu_bytes), tf.__version__)
    if backend == "jax":
        import jax

        return Runtime(backend, keras, None, JaxGpu(jax, jax_env), jax.__version__)
    import torch

    return Runtime(backend, keras, None, TorchGpu(torch, cfg.budget.gpu_bytes), torch.__version__)
