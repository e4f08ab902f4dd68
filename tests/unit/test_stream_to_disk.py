"""stream_to_disk without TensorFlow: its options, where it applies, and the file it writes.
(The pipeline in real trial processes: tests/integration/test_flat_pipeline.py.)"""

from __future__ import annotations

import numpy as np
import pytest

from workbench.config import PIPELINES, DataSpec, ModelSpec, SweepConfig, TrialConfig
from workbench.errors import ConfigError
from workbench.plan import expand
from workbench.trial.npy_writer import NpyAppender


def _trial(tmp_path, **kw) -> TrialConfig:
    data = tmp_path / "x.npy"
    np.save(data, np.zeros((4, 8, 8, 3), dtype=np.float32))
    kw.setdefault("pipeline", "stream_to_disk")
    return TrialConfig(ModelSpec("tiny"), DataSpec(kind="npy", path=str(data)), **kw)


def test_it_is_a_pipeline_everywhere_pipelines_are_listed():
    assert "stream_to_disk" in PIPELINES
    assert SweepConfig(ModelSpec("tiny"), DataSpec("demo"), pipelines="stream,stream_to_disk").pipelines == (
        "stream", "stream_to_disk")


def test_keeping_the_outputs_does_not_change_the_resume_key(tmp_path):
    plain = _trial(tmp_path)
    kept = _trial(tmp_path, keep_outputs=str(tmp_path / "preds.npy"))
    assert kept.key() == plain.key()  # the same measurement; only the file's fate differs
    assert TrialConfig.from_dict(kept.to_dict()) == kept


@pytest.mark.parametrize(("kw", "match"), [
    ({"keep_outputs": "{tmp}/preds.npy", "pipeline": "stream"}, "stream_to_disk pipeline only"),
    ({"keep_outputs": "{tmp}/preds.csv"}, "must be a .npy file"),
    ({"keep_outputs": "{tmp}/missing/preds.npy"}, "in an existing folder"),
])
def test_bad_keep_outputs_is_a_clear_error(tmp_path, kw, match):
    kw = {k: v.format(tmp=tmp_path) for k, v in kw.items()}
    with pytest.raises(ConfigError, match=match):
        _trial(tmp_path, **kw)


def test_streaming_to_disk_needs_data_on_disk():
    sweep = SweepConfig(ModelSpec("tiny"), DataSpec("synthetic", count=8), pipelines=("stream_to_disk",))
    with pytest.raises(ConfigError, match="stream_to_disk pipeline reads images from disk"):
        expand(sweep)


def test_outputs_are_appended_to_an_npy_with_the_final_shape(tmp_path):
    path = tmp_path / "out.npy"
    rng = np.random.default_rng(0)
    parts = [rng.random((4, 3, 2), dtype=np.float32) for _ in range(2)] + [rng.random((2, 3, 2), dtype=np.float32)]
    with NpyAppender(path, rows=10) as out:
        for part in parts:
            out.append(part)
    np.testing.assert_array_equal(np.load(path), np.concatenate(parts))
    with pytest.raises(ValueError, match="promises 10"), NpyAppender(path, rows=10) as out:
        out.append(parts[0])  # 4 of 10 rows: the file would lie
    with pytest.raises(ValueError, match="more than the 3 rows"), NpyAppender(path, rows=3) as out:
        out.append(parts[0])
