"""Precision policies (Keras mixed precision). Runs inside the worker only.

Models built in the trial (keras.applications, ``tiny``) pick up the global policy when their
layers are created. A loaded model does not: Keras stores every layer's dtype policy in the
saved config, so a file saved in float32 loads as float32 whatever the global policy says.
:func:`set_layer_policies` rewrites those stored policies so the model can be rebuilt under
the trial's precision (see ``models.rebuild``).
"""

from __future__ import annotations

from typing import Any

from workbench.config import PRECISIONS
from workbench.types import Precision


def apply_policy(keras: Any, precision: Precision) -> None:
    """Set the global dtype policy; layers built (or rebuilt) after this use it."""
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}")
    keras.mixed_precision.set_global_policy(precision)


def current_policy(keras: Any) -> str:
    """The global dtype policy's name (``float32``, ``mixed_float16``, ...)."""
    return str(keras.mixed_precision.global_policy().name)


def _policy_name(dtype: Any) -> str | None:
    """The policy name in a saved layer config's ``dtype`` entry (a string or a DTypePolicy dict)."""
    if dtype is None:
        return None
    if isinstance(dtype, str):
        return dtype
    if isinstance(dtype, dict):
        inner = dtype.get("config")
        if isinstance(inner, dict) and isinstance(inner.get("name"), str):
            return inner["name"]
    return "?"


def output_layer_names(config: dict[str, Any]) -> set[str]:
    """Names of the layers producing a saved model's outputs (functional or Sequential)."""
    outputs = config.get("output_layers")
    if isinstance(outputs, list) and outputs:
        if isinstance(outputs[0], str):  # a single output: ["name", node, tensor]
            return {outputs[0]}
        return {o[0] for o in outputs if isinstance(o, list) and o and isinstance(o[0], str)}
    layers = config.get("layers")
    if isinstance(layers, list) and layers:  # Sequential: the last layer
        last = layers[-1].get("config", {})
        return {last["name"]} if isinstance(last.get("name"), str) else set()
    return set()


def set_layer_policies(config: Any, policy: str, keep_float32: set[str] | frozenset[str] = frozenset()) -> int:
    """Rewrite, in place, every float32 layer's policy in a saved model config to ``policy``.

    Input layers keep their input dtype; layers whose stored policy is not float32 (integer
    layers, or ones the author set deliberately) are left alone, and so are the layers named in
    ``keep_float32`` (the model's outputs, as the mixed-precision guide advises, so outputs stay
    float32). Nested models are walked too. Returns how many layers were rewritten.
    """
    changed = 0
    if isinstance(config, dict):
        cls, cfg = config.get("class_name"), config.get("config")
        if isinstance(cfg, dict) and cls not in (None, "InputLayer") and "dtype" in cfg:
            name = cfg.get("name")
            if _policy_name(cfg["dtype"]) in (None, "float32") and name not in keep_float32 \
                    and not isinstance(cfg.get("layers"), list):
                cfg["dtype"] = policy
                changed += 1
        for value in config.values():
            changed += set_layer_policies(value, policy, keep_float32)
    elif isinstance(config, list):
        for value in config:
            changed += set_layer_policies(value, policy, keep_float32)
    return changed
