"""Keras 3 backends, seen from the parent: which are installed, and what a trial process of
each needs in its environment.

The parent never imports a backend: whether one is installed is asked of the import system
(:func:`importlib.util.find_spec` finds a package's files without running it), so a sweep that
names a backend that is missing stops with one line before any trial, naming what to install.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterable

from workbench.config import BACKENDS, DEFAULT_BACKEND
from workbench.errors import ConfigError

# The importable packages each backend needs, and how to install them.
PACKAGES: dict[str, tuple[str, ...]] = {"tensorflow": ("tensorflow",), "jax": ("jax", "jaxlib"), "torch": ("torch",)}
INSTALL: dict[str, str] = {
    "tensorflow": "pip install tensorflow-cpu (or 'tensorflow[and-cuda]' where there is an NVIDIA GPU)",
    "jax": "pip install 'jax[cpu]' (or 'jax[cuda12]' where there is an NVIDIA GPU)",
    "torch": "pip install torch",
}

__all__ = ["BACKENDS", "DEFAULT_BACKEND", "check_installed", "installed", "tensorflow_installed", "trial_env"]


def _found(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a broken install, or a module whose __spec__ is None
        return False


def installed(backend: str) -> bool:
    """True when every package ``backend`` needs can be imported (none is imported here)."""
    return all(_found(m) for m in PACKAGES[backend])


def tensorflow_installed() -> bool:
    """True when TensorFlow can be imported: ``tf.data``, folder decoding and SavedModels need it."""
    return installed("tensorflow")


def check_installed(backends: Iterable[str]) -> None:
    """One line naming the first backend that is not installed and what to install for it."""
    for backend in backends:
        if backend not in PACKAGES:
            raise ConfigError(f"unknown backend {backend!r}: choose from {', '.join(BACKENDS)}")
        missing = [m for m in PACKAGES[backend] if not _found(m)]
        if missing:
            raise ConfigError(f"the {backend} backend needs {' and '.join(missing)}, which is not installed "
                              f"here: {INSTALL[backend]}, or leave {backend} out of --backends")


def trial_env(env: dict[str, str], backend: str = DEFAULT_BACKEND) -> dict[str, str]:
    """``env`` set up for a trial process (or fork server) of ``backend``: ``KERAS_BACKEND``,
    and for PyTorch an NVML-based CUDA check, so that Keras' ``torch.cuda.is_available()`` at
    import does not initialise CUDA in a process that forks trials."""
    env["KERAS_BACKEND"] = backend
    if backend == "torch":
        env.setdefault("PYTORCH_NVML_BASED_CUDA_CHECK", "1")
    return env
