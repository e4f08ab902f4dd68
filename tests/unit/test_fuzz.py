"""Property-based tests (hypothesis): the parsers of what users type raise nothing but
ConfigError, and the results reader never raises on a line, keeping every good one.

What they found when first run (all fixed): parse_int_list / parse_name_list raised TypeError
on a bare number or None; parse_bytes OverflowError on an int past float's range;
parse_image_size TypeError/ValueError on lists holding None or text, and ValueError on 5,000
digits; DataSpec.parse ValueError on "synthetic:²" (str.isdigit accepts superscripts) and on a
5,000-digit count, OSError on a name longer than the file system allows. The reader (so
``sweep`` resuming and ``report``) crashed on a trial line with a missing field (TypeError), an
unknown status (ValueError), a number past float's range (OverflowError), a 5,000-digit number
(json raises ValueError, not JSONDecodeError), deep nesting (RecursionError), a line holding a
JSON list (AttributeError) and bytes that are not UTF-8 (UnicodeDecodeError, the whole file);
a batch size written as text was read as NaN and broke the results table later.
"""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from workbench.config import PIPELINES, PRECISIONS, DataSpec, ModelSpec, TrialConfig
from workbench.errors import ConfigError
from workbench.parsing import parse_bytes, parse_image_size, parse_int_list, parse_name_list
from workbench.results import ResultStore, TrialResult, load_results

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.integers(min_value=10**300, max_value=10**400),
                    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=30))
typed = st.text(alphabet="0123456789.-+eE kKmMgGiIbBxX,:²٣\x00~/", max_size=40)
user_input = st.one_of(scalars, typed, st.lists(st.one_of(scalars, typed), max_size=4),
                       st.integers(min_value=0, max_value=5000).map(lambda n: "9" * n))


def only_config_errors(parse, value) -> None:
    try:
        parse(value)
    except ConfigError:
        pass  # the one error a user may see: it names the problem and the fix


@FUZZ
@given(user_input)
def test_the_parsers_raise_only_config_errors(value):
    only_config_errors(parse_bytes, value)
    only_config_errors(parse_image_size, value)
    only_config_errors(lambda v: parse_int_list(v, "batch sizes"), value)
    only_config_errors(lambda v: parse_name_list(v, PRECISIONS, "precisions"), value)
    only_config_errors(lambda v: DataSpec("synthetic", count=v), value)
    only_config_errors(lambda v: ModelSpec("tiny", image_size=v), value)


@FUZZ
@given(st.one_of(typed, st.text(max_size=300)), st.sampled_from(["", "synthetic:", "demo:", "/tmp/", "~", "x.npy"]))
def test_data_spec_parse_raises_only_config_errors(text, prefix):
    only_config_errors(DataSpec.parse, prefix + text)
    only_config_errors(DataSpec.parse, text + prefix)


@FUZZ
@given(st.integers(min_value=1, max_value=2**31 - 1), st.sampled_from(["", "B", "KB", "MiB", "GB", "TiB"]))
def test_sizes_and_lists_read_back_what_was_written(n, unit):
    scale = {"": 1, "B": 1, "KB": 10**3, "MiB": 2**20, "GB": 10**9, "TiB": 2**40}[unit]
    assert parse_bytes(f"{n}{unit}") == n * scale
    assert parse_int_list(f"{n}, 1,{n}", "batch sizes") == tuple(dict.fromkeys((n, 1)))
    with pytest.raises(ConfigError, match="must be positive"):
        parse_bytes(f"-{n}{unit}")


# ---- the results reader ----------------------------------------------------------------------

def trial_line(batch: int) -> dict:
    cfg = TrialConfig(model=ModelSpec("tiny"), data=DataSpec("synthetic", count=8), batch_size=batch,
                      pipeline=PIPELINES[batch % 3])
    r = TrialResult.for_trial(cfg)
    r.throughput_ips = float(batch)
    return {"record": "trial", "schema_version": 1, **r.to_dict()}


FIELDS = list(trial_line(1))
json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(min_value=-(10**30), max_value=10**30),
              st.integers(min_value=10**300, max_value=10**400), st.floats(allow_nan=False), st.text(max_size=12)),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=5), inner, max_size=3)),
    max_leaves=6,
)


def mutated(line: dict, data: st.DataObject) -> str:
    """One way a line goes wrong: a field dropped or retyped, cut short, or not a record at all."""
    how = data.draw(st.sampled_from(["drop", "retype", "cut", "value", "huge"]))
    if how == "drop":
        line = {k: v for k, v in line.items() if k != data.draw(st.sampled_from(FIELDS))}
    elif how == "retype":
        line = {**line, data.draw(st.sampled_from(FIELDS)): data.draw(json_values)}
    elif how == "huge":
        text = json.dumps(line)
        return text.replace('"batch_size": ', '"batch_size": ' + data.draw(st.sampled_from(["1e999", "9" * 400, "-0.5e5"])) + ", \"x\": ")
    elif how == "value":
        return json.dumps(data.draw(json_values))
    text = json.dumps(line)
    return text[: data.draw(st.integers(min_value=0, max_value=len(text)))] if how == "cut" else text


@FUZZ
@given(st.data())
def test_the_reader_never_raises_and_keeps_every_good_line(tmp_path_factory, data):
    out = tmp_path_factory.mktemp("fuzz")
    store = ResultStore(out)
    store.ensure_header({"sweep": 1}, env={"hostname": "box"})
    good = []
    with store.path.open("a", encoding="utf-8") as fh:
        for i in range(data.draw(st.integers(min_value=1, max_value=6))):
            if data.draw(st.booleans()):
                fh.write(json.dumps(trial_line(i + 1)) + "\n")
                good.append(i + 1)
            else:
                fh.write(mutated(trial_line(i + 1), data).replace("\n", " ") + "\n")
    trials = store.results()
    kept = {(t.key, t.batch_size) for t in trials}
    assert {(trial_line(b)["key"], b) for b in good} <= kept  # no good line lost, whatever came between
    df = load_results(out)  # never raises either, whatever survived
    assert len(df) == len(trials)
    for t in trials:  # what is read back is what the rest of the project expects
        assert isinstance(t.batch_size, int) and isinstance(t.key, str)
        assert isinstance(t.throughput_ips, float) and not math.isinf(t.throughput_ips)
