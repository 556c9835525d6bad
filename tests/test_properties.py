"""Issue 14: property-based tests (hypothesis) of every input reader and of pass@k and its confidence interval.

Readers: `evalkit evaluate`'s three formats (evalkit/inputs.py) and the benchmark data readers
(evalkit/datafiles.py). For any bytes at all they either return records or raise UserError (one line, exit 2),
never another exception; what they accept they read back exactly."""

from __future__ import annotations

import gzip
import json
import math
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from evalkit.datafiles import read_json_list, read_jsonl
from evalkit.errors import UserError
from evalkit.inputs import read_samples
from evalkit.metrics import pass_at_k, summarize
from evalkit.task import Problem, Task

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


class Toy(Task):
    """Three problems; ids may be written as 'T/1' or '1' (like MBPP's canonical ids)."""

    name = "toy"

    def load(self):  # noqa: ANN201
        return [Problem(f"T/{i}", "", "pass\n", "", "f") for i in range(3)], "0" * 64, "inline"

    def canonical_task_id(self, raw: object) -> str:
        s = str(raw)
        return f"T/{s}" if s.isdigit() else s


TASK = Toy()
IDS = ["T/0", "T/1", "T/2"]


_DIR = tempfile.TemporaryDirectory(prefix="evalkit-prop-")  # removed when the session ends


def _write(data: bytes, suffix: str = ".jsonl") -> Path:
    p = Path(_DIR.name) / f"f{suffix}"
    p.write_bytes(data)
    return p


def _outcome(fn, *args):  # noqa: ANN001, ANN202
    try:
        return fn(*args)
    except UserError as e:
        assert "\n" not in str(e).strip() and str(e)  # one line
        return e


samples = st.lists(st.tuples(st.sampled_from(IDS + ["0", "1", "2"]), st.text(), st.sampled_from(["completion",
                                                                                                   "solution"])),
                   min_size=1, max_size=12)


@SETTINGS
@given(samples)
def test_jsonl_samples_read_back_exactly(rows):
    path = _write("".join(json.dumps({"task_id": t, field: text}) + "\n" for t, text, field in rows).encode())
    got = read_samples(path, TASK)
    assert len(got) == len(rows)
    seen: dict[str, int] = {}
    for (tid, text, field), rec in zip(rows, got):
        canon = TASK.canonical_task_id(tid)
        assert rec["task_id"] == canon and rec[field] == text and rec["task"] == "toy"
        assert rec["sample_idx"] == seen.get(canon, 0)
        seen[canon] = rec["sample_idx"] + 1


@SETTINGS
@given(st.lists(st.lists(st.text(), max_size=4), max_size=4))
def test_bigcode_lists_read_back_or_are_refused(data):
    path = _write(json.dumps(data).encode(), ".json")
    got = _outcome(read_samples, path, TASK)
    total = sum(len(x) for x in data)
    if len(data) > 3 or total == 0:
        assert isinstance(got, UserError)
    else:
        assert [(r["task_id"], r["sample_idx"], r["solution"]) for r in got] == [
            (IDS[i], j, s) for i, xs in enumerate(data) for j, s in enumerate(xs)]


@SETTINGS
@given(st.one_of(st.binary(max_size=300), st.text(max_size=300).map(str.encode),
                 st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=5),
                              lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=8), c, max_size=3),
                              max_leaves=8).map(lambda x: json.dumps(x).encode())))
def test_any_bytes_give_samples_or_one_user_error(data):
    for suffix in (".jsonl", ".json"):
        got = _outcome(read_samples, _write(data, suffix), TASK)
        assert isinstance(got, UserError) or (isinstance(got, list) and all(isinstance(r, dict) for r in got))


rows = st.lists(st.fixed_dictionaries({"task_id": st.integers(0, 10**6), "code": st.text(), "test_list":
                                       st.lists(st.text(), max_size=3)}), min_size=1, max_size=8)


@SETTINGS
@given(rows, st.booleans())
def test_data_files_read_back_and_any_cut_is_named(data, gz):
    text = "".join(json.dumps(r) + "\n" for r in data).encode()
    raw = gzip.compress(text, mtime=0) if gz else text
    suffix = ".jsonl.gz" if gz else ".jsonl"
    assert read_jsonl(_write(raw, suffix), ("task_id", "code")) == data
    for cut in {1, len(raw) // 2, len(raw) - 1}:
        got = _outcome(read_jsonl, _write(raw[:cut], suffix), ("task_id", "code"))
        if isinstance(got, UserError):
            assert "f" + suffix in str(got)
        else:  # a cut that fell on a line boundary: the whole lines before it
            assert got == data[: len(got)]
    missing = _outcome(read_jsonl, _write(b'{"task_id": 1}\n', ".jsonl"), ("task_id", "code"))
    assert isinstance(missing, UserError) and ":1:" in str(missing) and "'code'" in str(missing)


@SETTINGS
@given(st.binary(max_size=200), st.sampled_from([".jsonl", ".jsonl.gz", ".json"]))
def test_data_readers_on_any_bytes(data, suffix):
    reader = read_json_list if suffix == ".json" else read_jsonl
    got = _outcome(reader, _write(data, suffix), ("task_id",))
    assert isinstance(got, UserError) or all("task_id" in r for r in got)


@SETTINGS
@given(st.integers(1, 300).flatmap(lambda n: st.tuples(st.just(n), st.integers(0, n), st.integers(1, n))))
def test_pass_at_k_is_the_exact_estimator(nck):
    n, c, k = nck
    v = pass_at_k(n, c, k)
    exact = 1 - math.comb(n - c, k) / math.comb(n, k)
    assert v == pytest.approx(exact, abs=1e-9) and 0.0 <= v <= 1.0
    if k == 1:
        assert v == pytest.approx(c / n)
    if k < n:
        assert pass_at_k(n, c, k + 1) >= v - 1e-12  # more tries never hurt
    if c < n:
        assert pass_at_k(n, c + 1, k) >= v - 1e-12  # more correct samples never hurt


@SETTINGS
@given(st.integers(1, 30).flatmap(lambda n: st.lists(st.integers(0, n).map(lambda c, n=n: (n, c)), min_size=1,
                                                     max_size=40)))
def test_summary_and_ci_bracket_the_mean(counts):
    table = {f"p{i}": nc for i, nc in enumerate(counts)}
    s = summarize(table, (1, 10, 100))
    n = counts[0][0]
    assert {k for k in s if not k.endswith("_ci")} == {f"pass@{k}" for k in (1, 10, 100) if k <= n}
    for key in (k for k in s if not k.endswith("_ci")):
        k = int(key[5:])
        mean = sum(pass_at_k(nn, c, k) for nn, c in counts) / len(counts)
        lo, hi = s[key + "_ci"]
        assert s[key] == pytest.approx(mean)
        assert 0.0 <= lo <= s[key] + 1e-12 and s[key] - 1e-12 <= hi <= 1.0
    assert summarize(table, (1, 10, 100)) == s  # deterministic (seeded bootstrap)
