"""The CI gate (``evalkit check``) and its paired tests on results.json files with known per-problem outcomes:
different problems of the same count, a reference value inside or above the run's CI, McNemar only when every
problem has one sample on both sides, the allowed drop and alpha at their boundaries, clusters of unequal size."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from evalkit.compare import cluster_paired_bootstrap, mcnemar_exact, paired_bootstrap, paired_test
from evalkit.errors import UserError
from evalkit.gate import check as _gate_check
from evalkit.metrics import summarize
from evalkit.results import load_run

PROTOCOL = {"prompt_format": "HumanEval prompt", "prompt_sha256": "a" * 64, "dataset_sha256": "d" * 64,
            "max_new_tokens": 512, "chat": False, "shots": 0}


def check(*args, **kw):  # (ok, reasons): the gate also returns the drops that were not significant
    return _gate_check(*args, **kw)[:2]


def write_run(tmp_path, name: str, problems: dict[str, tuple[int, int]], *, task: str = "humaneval",
              clusters: dict | None = None, temperature: float = 0.0, **fields):
    """A results.json as a run writes it (pass@k from evalkit.metrics), loaded as ``check`` loads it."""
    block = summarize(problems, (1,), clusters=clusters) | {"problems": {t: list(v) for t, v in problems.items()},
                                                            "n_problems": len(problems)} | PROTOCOL | fields
    if clusters:
        block["clusters"] = clusters
    doc = {"model": {"id": name, "backend": "hf"}, "tasks": {task: block},
           "config": {"limit": None, "generation": {"temperature": temperature, "n_samples": 1}}}
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(doc))
    return load_run(str(path))


def write_reference(tmp_path, name: str, value: float, n_problems: int, task: str = "humaneval"):
    doc = {"evalkit_reference": True, "model": {"id": name},
           "tasks": {task: {"pass@1": value, "protocol": PROTOCOL | {"n_problems": n_problems,
                                                                     "decoding": {"pass@1": {"greedy": True}}}}}}
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(doc))
    return load_run(str(path))


def outcomes(passed: list[int]) -> dict[str, tuple[int, int]]:
    return {f"HumanEval/{i}": (1, int(i in passed)) for i in range(20)}


def test_same_number_of_different_problems_is_refused(tmp_path):
    base = write_run(tmp_path, "base", {f"HumanEval/{i}": (1, 1) for i in range(10)})
    run = write_run(tmp_path, "run", {f"HumanEval/{i}": (1, 1) for i in range(10, 20)})
    with pytest.raises(UserError, match="different problems"):
        check(run, base, 0.0, 0.05)


def test_a_significant_drop_beyond_the_allowance_fails(tmp_path):
    base = write_run(tmp_path, "base", outcomes(list(range(20))))
    run = write_run(tmp_path, "run", outcomes(list(range(8))))  # 12 flips, all one way: p = 2 / 2**12
    ok, reasons = check(run, base, 0.1, 0.05)
    assert not ok and len(reasons) == 1 and reasons[0].startswith("FAIL: humaneval")
    assert "mcnemar-exact" in reasons[0] and f"p={mcnemar_exact(12, 0):.3g}" in reasons[0]
    assert "100.0 -> 40.0" in reasons[0] and "-60.0 points" in reasons[0]
    ok, reasons = check(run, base, 0.6, 0.05)  # a drop of exactly the allowance passes
    assert ok and reasons[0].startswith("ok:")
    ok, _ = check(run, base, 0.59, 0.05)
    assert not ok


def test_alpha_is_a_strict_bound(tmp_path):
    base = write_run(tmp_path, "base", outcomes(list(range(20))))
    run = write_run(tmp_path, "run", outcomes(list(range(15))))  # 5 flips: p = 2 / 32 = 0.0625
    assert mcnemar_exact(5, 0) == 0.0625
    ok, reasons = check(run, base, 0.0, 0.0625)
    assert ok and "not significant at alpha=0.0625" in reasons[0]
    ok, reasons = check(run, base, 0.0, 0.07)
    assert not ok and "not significant" not in reasons[0]


def test_an_improvement_never_fails(tmp_path):
    base = write_run(tmp_path, "base", outcomes(list(range(8))))
    run = write_run(tmp_path, "run", outcomes(list(range(20))))
    ok, reasons = check(run, base, 0.0, 0.05)
    assert ok and "not significant" not in reasons[0] and "+60.0 points" in reasons[0]


def test_a_run_equal_to_its_baseline(tmp_path):
    base = write_run(tmp_path, "base", outcomes([1, 2, 3]))
    ok, reasons = check(base, base, 0.0, 0.05)
    assert ok and "p=1 (mcnemar-exact)" in reasons[0] and "not significant" not in reasons[0]


def test_a_reference_value_inside_the_runs_ci_passes_and_above_it_fails(tmp_path):
    run = write_run(tmp_path, "run", outcomes(list(range(8))))  # 40%
    lo, hi = run.ci("humaneval", "pass@1")
    assert lo < 0.4 < hi < 0.7
    inside = write_reference(tmp_path, "inside", (0.4 + hi) / 2, 20)
    ok, reasons = check(run, inside, 0.0, 0.05)
    assert ok and "not significant" in reasons[0] and "vs run CI" in reasons[0]
    edge = write_reference(tmp_path, "edge", hi, 20)  # on the CI's upper bound: still inside
    assert check(run, edge, 0.0, 0.05)[0]
    above = write_reference(tmp_path, "above", 0.9, 20)
    ok, reasons = check(run, above, 0.1, 0.05)
    assert not ok and reasons[0].startswith("FAIL") and "baseline 90.0 vs run CI" in reasons[0]
    assert check(run, above, 0.5, 0.05)[0]  # significant, but within the allowance


def test_a_reference_is_judged_on_the_tasks_the_run_has(tmp_path):
    run = write_run(tmp_path, "run", outcomes(list(range(8))))
    doc = {"evalkit_reference": True, "model": {"id": "ref"},
           "tasks": {"humaneval": {"pass@1": 0.41, "protocol": PROTOCOL | {"n_problems": 20}},
                     "mbpp": {"pass@1": 0.5, "protocol": {}}}}
    (tmp_path / "ref.json").write_text(json.dumps(doc))
    ok, reasons = check(run, load_run(str(tmp_path / "ref.json")), 0.0, 0.05)
    assert ok and len(reasons) == 1 and "humaneval" in reasons[0]
    doc["tasks"] = {"mbpp": doc["tasks"]["mbpp"]}
    (tmp_path / "ref.json").write_text(json.dumps(doc))
    with pytest.raises(UserError, match="shares no task"):
        check(run, load_run(str(tmp_path / "ref.json")), 0.0, 0.05)


def test_a_task_missing_from_the_run_or_its_pass1_is_refused(tmp_path):
    base = write_run(tmp_path, "base", outcomes([1]))
    other = write_run(tmp_path, "other", outcomes([1]), task="mbpp")
    with pytest.raises(UserError, match="no results for task 'humaneval'"):
        check(other, base, 0.0, 0.05)
    doc = json.loads((tmp_path / "base.json").read_text())
    del doc["tasks"]["humaneval"]["pass@1"]
    (tmp_path / "nopass.json").write_text(json.dumps(doc))
    with pytest.raises(UserError, match="pass@1 missing in the baseline"):
        check(base, load_run(str(tmp_path / "nopass.json")), 0.0, 0.05)
    with pytest.raises(UserError, match="pass@1 missing in"):
        check(load_run(str(tmp_path / "nopass.json")), base, 0.0, 0.05)


def test_another_protocol_is_refused_unless_allowed(tmp_path):
    base = write_run(tmp_path, "base", outcomes(list(range(20))))
    run = write_run(tmp_path, "run", outcomes(list(range(8))), max_new_tokens=128)
    with pytest.raises(UserError, match="max_new_tokens 128 vs 512"):
        check(run, base, 0.0, 0.05)
    ok, reasons = check(run, base, 0.0, 0.05, allow_mismatch=True)
    assert not ok and "protocols differ (allowed): max_new_tokens 128 vs 512" in reasons[0]
    sampled = write_run(tmp_path, "sampled", outcomes(list(range(20))), temperature=0.8)
    with pytest.raises(UserError, match="sampled"):
        check(sampled, base, 0.0, 0.05)


def test_mcnemar_only_when_every_problem_has_one_sample_on_both_sides():
    one = {f"p{i}": (1, int(i < 6)) for i in range(10)}
    other = {f"p{i}": (1, int(i < 2)) for i in range(10)}
    t = paired_test(one, other)
    assert (t.method, t.n_shared, t.only_a, t.only_b) == ("mcnemar-exact", 10, ["p2", "p3", "p4", "p5"], [])
    assert t.p_value == mcnemar_exact(4, 0) == 0.125
    several = {f"p{i}": (5, 5 * int(i < 2)) for i in range(10)}  # n > 1 on one side only
    t = paired_test(one, several)
    assert t.method == "paired-bootstrap" and t.only_a == ["p2", "p3", "p4", "p5"]
    assert paired_test(several, one).method == "paired-bootstrap"
    mixed = dict(other) | {"p9": (2, 1)}
    assert paired_test(one, mixed).method == "paired-bootstrap"


def test_paired_test_uses_shared_problems_in_natural_order():
    a = {f"p{i}": (1, 1) for i in (1, 2, 10, 11)}
    b = {f"p{i}": (1, 0) for i in (2, 10, 11, 12)}
    t = paired_test(a, b)
    assert t.n_shared == 3 and t.only_a == ["p2", "p10", "p11"] and t.only_b == []
    assert t.p_value == mcnemar_exact(3, 0)
    assert paired_test(a, {"q": (1, 1)}) is None
    t = paired_test({"p1": (4, 1)}, {"p1": (4, 3)})
    assert t.only_b == ["p1"] and t.only_a == []


@pytest.mark.parametrize("b,c,p", [(0, 0, 1.0), (3, 3, 1.0), (5, 0, 0.0625), (0, 5, 0.0625), (4, 1, 0.375),
                                   (8, 2, 2 * 56 / 1024), (1, 0, 1.0), (10, 0, 2 / 1024)])
def test_mcnemar_exact_values(b, c, p):
    assert mcnemar_exact(b, c) == pytest.approx(p, abs=1e-15)


def test_paired_bootstrap_p_values():
    assert paired_bootstrap(np.array([])) == 1.0 and paired_bootstrap(np.zeros(10)) == 1.0
    assert paired_bootstrap(np.ones(30)) == paired_bootstrap(-np.ones(30)) == 1 / 10000  # never 0
    noisy = np.array([0.2, -0.2] * 25)
    assert 0.8 < paired_bootstrap(noisy) <= 1.0
    skewed = np.array([1.0] * 12 + [-1.0] * 8)
    p = paired_bootstrap(skewed)
    assert 0.2 < p < 0.6 and p == pytest.approx(paired_bootstrap(-skewed), abs=0.03)


def test_cluster_paired_bootstrap_with_unequal_clusters_weights_records():
    # one cluster of 9 records that improved by 1, nine single records that lost 0.5: over records the mean
    # difference is +0.25, and it is <= 0 only in draws without the big cluster (P = 0.9**10 = 0.35): p ~ 0.70.
    # (A mean of cluster means, -0.35, would give p ~ 0.03.)
    diffs = np.array([1.0] * 9 + [-0.5] * 9)
    groups = np.array(["big"] * 9 + [f"s{i}" for i in range(9)])
    p = cluster_paired_bootstrap(diffs, groups)
    assert p == pytest.approx(2 * 0.9 ** 10, abs=0.05)
    assert cluster_paired_bootstrap(np.zeros(4), np.array(list("aabb"))) == 1.0
    assert cluster_paired_bootstrap(np.array([]), np.array([])) == 1.0
    assert cluster_paired_bootstrap(np.ones(6), np.array(list("aabbcc"))) == 1 / 10000


def test_paired_test_with_clusters_resamples_them(tmp_path):
    a = {f"S/{p}/L{i}": (1, 1) for p in range(8) for i in range(3)}
    b = {t: (1, int(not t.startswith("S/0/"))) for t in a}
    clusters = {t: t.rsplit("/L", 1)[0] for t in a}
    t = paired_test(a, b, clusters)
    assert t.method == "cluster-bootstrap" and t.n_shared == 24 and len(t.only_a) == 3
    assert t.p_value == cluster_paired_bootstrap(np.array([b[k][1] - a[k][1] for k in sorted(a)], dtype=float),
                                                 np.array([clusters[k] for k in sorted(a)]))
    assert paired_test(a, b).method == "mcnemar-exact"
    singletons = {k: k for k in a}  # every record its own cluster: independent after all
    assert paired_test(a, b, singletons).method == "mcnemar-exact"
    base = write_run(tmp_path, "base", a, task="infill", clusters=clusters)
    run = write_run(tmp_path, "run", b, task="infill", clusters=clusters)
    ok, reasons = check(run, base, 0.0, 0.05)
    assert ok and "(cluster-bootstrap)" in reasons[0] and "not significant" in reasons[0]
    assert math.isclose(base.value("infill", "pass@1") - run.value("infill", "pass@1"), 3 / 24)


def test_cluster_paired_bootstrap_counts_zero_replicates_on_both_sides():
    # cluster a sums to 0: a replicate of a's only has mean 0 (P = 1/4 with two clusters) and counts as <= 0
    assert cluster_paired_bootstrap(np.array([1.0, -1.0, 0.5]), np.array(["a", "a", "b"])) == pytest.approx(0.5,
                                                                                                            abs=0.03)
    # every cluster sums to 0: every replicate is 0, p = 1 (not 2)
    assert cluster_paired_bootstrap(np.array([1.0, -1.0, 2.0, -2.0]), np.array(list("aabb"))) == 1.0
    assert paired_bootstrap(np.array([1.0, -1.0])) == 1.0


def test_paired_test_with_records_missing_from_the_cluster_map():
    a = {"S/0/L0": (1, 1), "S/0/L1": (1, 1), "x": (1, 1), "y": (1, 0)}
    b = {"S/0/L0": (1, 0), "S/0/L1": (1, 0), "x": (1, 1), "y": (1, 1)}
    t = paired_test(a, b, {"S/0/L0": "S/0", "S/0/L1": "S/0"})  # x and y: clusters of their own
    assert t.method == "cluster-bootstrap" and t.only_a == ["S/0/L0", "S/0/L1"] and t.only_b == ["y"]
    diffs = np.array([-1.0, -1.0, 0.0, 1.0])
    assert t.p_value == cluster_paired_bootstrap(diffs, np.array(["S/0", "S/0", "x", "y"]))


@pytest.mark.parametrize("clustered", ["base", "run"])
def test_clusters_recorded_by_either_run_are_used(tmp_path, clustered):
    a = {f"S/{p}/L{i}": (1, 1) for p in range(8) for i in range(3)}
    b = {t: (1, int(not t.startswith("S/0/"))) for t in a}
    clusters = {t: t.rsplit("/L", 1)[0] for t in a}
    base = write_run(tmp_path, "base", a, task="infill", clusters=clusters if clustered == "base" else None)
    run = write_run(tmp_path, "run", b, task="infill", clusters=clusters if clustered == "run" else None)
    _, reasons = check(run, base, 0.0, 0.05)
    assert "(cluster-bootstrap)" in reasons[0]


def test_a_run_without_per_problem_data_is_judged_by_its_ci(tmp_path):
    write_run(tmp_path, "run", outcomes(list(range(8))))
    doc = json.loads((tmp_path / "run.json").read_text())
    del doc["tasks"]["humaneval"]["problems"]  # an older results.json
    (tmp_path / "old.json").write_text(json.dumps(doc))
    base = write_run(tmp_path, "base", outcomes(list(range(20))))
    ok, reasons = check(load_run(str(tmp_path / "old.json")), base, 0.1, 0.05)
    assert not ok and "vs run CI" in reasons[0]
    del doc["tasks"]["humaneval"]["pass@1_ci"]
    (tmp_path / "noci.json").write_text(json.dumps(doc))
    ok, reasons = check(load_run(str(tmp_path / "noci.json")), base, 0.1, 0.05)
    assert ok and "no CI" in reasons[0] and "not significant" in reasons[0]


def test_a_sampled_run_against_a_greedy_reference_is_refused(tmp_path):
    ref = write_reference(tmp_path, "ref", 0.4, 20)
    run = write_run(tmp_path, "run", outcomes(list(range(8))), temperature=0.8)
    with pytest.raises(UserError, match="sampled .* vs greedy"):
        check(run, ref, 0.0, 0.05)
    ok, reasons = check(run, ref, 0.0, 0.05, allow_mismatch=True)
    assert ok and "protocols differ (allowed)" in reasons[0]
