"""pass@k summaries and their confidence intervals on the cases a real bug would look like: uneven sample counts
(the mean of per-problem estimates, only the k every problem allows), unequal clusters (the mean over records,
not a mean of cluster means), the width of a 95% CI, and the per-metric blocks of results.json."""

from __future__ import annotations

import math

import numpy as np
import pytest

from evalkit.metrics import (
    DEFAULT_KS,
    PASS,
    Metric,
    bootstrap_ci,
    cluster_bootstrap_ci,
    default_ks,
    pass_at_k,
    per_problem_pass_at_k,
    summarize,
    summarize_metric,
)


def test_uneven_sample_counts_average_per_problem_estimates():
    counts = {"a": (10, 5), "b": (3, 3), "c": (4, 0)}
    s = summarize(counts, (1, 2, 3, 4, 10))
    assert set(s) == {"pass@1", "pass@1_ci", "pass@2", "pass@2_ci", "pass@3", "pass@3_ci"}  # k <= the smallest n
    assert s["pass@1"] == pytest.approx((0.5 + 1.0 + 0.0) / 3)  # not the pooled 8 / 17
    assert s["pass@2"] == pytest.approx((1 - math.comb(5, 2) / math.comb(10, 2) + 1.0 + 0.0) / 3)
    assert s["pass@3"] == pytest.approx((1 - math.comb(5, 3) / math.comb(10, 3) + 1.0 + 0.0) / 3)


def test_default_ks_and_the_summary_with_200_samples():
    assert DEFAULT_KS == (1, 10, 100)
    assert default_ks(1) == [1] and default_ks(9) == [1] and default_ks(10) == [1, 10]
    assert default_ks(100) == [1, 10, 100] and default_ks(200) == [1, 10, 100]
    s = summarize({"a": (200, 20), "b": (200, 0)})
    assert [k for k in s if not k.endswith("_ci")] == ["pass@1", "pass@10", "pass@100"]
    assert s["pass@1"] == pytest.approx(0.05)
    assert summarize({}) == {}


@pytest.mark.parametrize("n,c,k", [(5, 6, 1), (5, -1, 1), (5, 2, 0), (5, 2, 6), (0, 0, 1)])
def test_pass_at_k_refuses_impossible_counts(n, c, k):
    with pytest.raises(ValueError):
        pass_at_k(n, c, k)


@pytest.mark.parametrize("n,c,k,expected", [
    (1, 0, 1, 0.0), (1, 1, 1, 1.0), (5, 0, 5, 0.0), (5, 5, 1, 1.0), (5, 4, 2, 1.0), (5, 3, 2, 1 - 1 / 10),
    (10, 1, 1, 0.1), (3, 1, 2, 1 - 1 / 3), (4, 2, 2, 1 - 1 / 6),
])
def test_pass_at_k_values(n, c, k, expected):
    assert pass_at_k(n, c, k) == pytest.approx(expected, abs=1e-12)


def test_per_problem_pass_at_k():
    assert per_problem_pass_at_k([(2, 1), (4, 4), (3, 0)], 1).tolist() == pytest.approx([0.5, 1.0, 0.0])


def test_ci_width_is_that_of_a_95_percent_interval():
    v = np.array([1.0, 0.0] * 200)  # mean 0.5, standard error 0.025: a 95% CI is about +-0.049
    lo, hi = bootstrap_ci(v)
    assert lo < 0.5 < hi and 0.085 < hi - lo < 0.115
    lo80, hi80 = bootstrap_ci(v, confidence=0.8)
    assert 0.05 < hi80 - lo80 < 0.08
    assert bootstrap_ci(np.array([])) == pytest.approx((math.nan, math.nan), nan_ok=True)
    assert len(bootstrap_ci(np.array([]))) == 2


def test_cluster_bootstrap_with_unequal_clusters_is_the_mean_over_records():
    # one cluster of 9 passing records, nine clusters of one failing record: the record mean is 9/18 = 0.5, the
    # mean of cluster means 1/10. The median replicate (confidence 0) is the record mean of a typical draw.
    values = np.array([1.0] * 9 + [0.0] * 9)
    groups = np.array(["big"] * 9 + [f"s{i}" for i in range(9)])
    lo, hi = cluster_bootstrap_ci(values, groups, confidence=0.0)
    assert lo == hi == pytest.approx(0.5)
    lo, hi = cluster_bootstrap_ci(values, groups)
    assert lo == 0.0 and hi > 0.75
    assert cluster_bootstrap_ci(np.array([]), np.array([])) == pytest.approx((math.nan, math.nan), nan_ok=True)
    assert len(cluster_bootstrap_ci(np.array([]), np.array([]))) == 2


def test_cluster_bootstrap_of_independent_records_is_as_wide_as_the_plain_one():
    v = np.array([1.0, 0.0, 0.0, 1.0] * 50)
    plain = bootstrap_ci(v)
    singletons = cluster_bootstrap_ci(v, np.array([f"p{i}" for i in range(len(v))]))
    assert singletons[1] - singletons[0] == pytest.approx(plain[1] - plain[0], abs=0.03)
    assert singletons[0] < 0.5 < singletons[1]


def test_summary_with_clusters_resamples_clusters():
    counts = {f"S/{p}/L{i}": (1, int(p < 3)) for p in range(6) for i in range(1 + 3 * (p == 0))}
    clusters = {t: t.rsplit("/L", 1)[0] for t in counts}
    s = summarize(counts, (1,), clusters=clusters)
    assert s["pass@1"] == pytest.approx(6 / 9)  # the mean over records
    values = np.array([c for _, c in counts.values()], dtype=float)
    assert s["pass@1_ci"] == list(cluster_bootstrap_ci(values, np.array(list(clusters.values()))))
    assert summarize(counts, (1,))["pass@1_ci"] == list(bootstrap_ci(values))


def test_binary_metric_block():
    scores = {"a": [1, 0, 1.0], "b": [0.5, 0], "c": [1]}  # a score counts as a pass only at 1
    out = summarize_metric(PASS, scores, ks=(1, 2))
    assert out["kind"] == "binary" and out["label"] == "pass@k"
    assert out["problems"] == {"a": [3, 2], "b": [2, 0], "c": [1, 1]}
    assert out["pass@1"] == pytest.approx((2 / 3 + 0 + 1) / 3)
    assert "pass@2" not in out  # problem c has one sample
    assert out["pass@1_ci"][0] <= out["pass@1"] <= out["pass@1_ci"][1]


def test_mean_metric_block_is_the_mean_of_per_problem_means():
    em = Metric("exact_match", "mean", "exact match")
    out = summarize_metric(em, {"a": [1, 1, 0, 0], "b": [1.0], "c": [0.25, 0.75]})
    assert out["kind"] == "mean" and out["label"] == "exact match"
    assert out["mean"] == pytest.approx((0.5 + 1.0 + 0.5) / 3)  # not the pooled 4 / 7
    assert out["problems"] == {"a": [4, 2.0], "b": [1, 1.0], "c": [2, 1.0]}
    lo, hi = out["mean_ci"]
    assert lo <= out["mean"] <= hi and lo < hi
    assert summarize_metric(em, {}) == {"kind": "mean", "label": "exact match", "problems": {}}


def test_mean_metric_with_clusters():
    em = Metric("edit_sim", "mean", "edit similarity")
    scores = {"big/0": [1.0], "big/1": [1.0], "big/2": [1.0], "s1": [0.0], "s2": [0.0], "s3": [0.0]}
    clusters = {"big/0": "big", "big/1": "big", "big/2": "big", "s1": None, "s2": None, "s3": None}
    out = summarize_metric(em, scores, clusters=clusters)
    vals = np.array([1.0, 1.0, 1.0, 0.0, 0.0, 0.0])
    assert out["mean_ci"] == list(cluster_bootstrap_ci(vals, np.array(["big"] * 3 + ["s1", "s2", "s3"])))
    assert out["mean_ci"] != list(bootstrap_ci(vals))
    unclustered = summarize_metric(em, scores, clusters=dict.fromkeys(scores))
    assert unclustered["mean_ci"] == list(bootstrap_ci(vals))


def test_metric_kind_is_checked():
    assert Metric("m", "binary", "x").kind == "binary" and Metric("m", "mean", "x").kind == "mean"
    with pytest.raises(ValueError):
        Metric("m", "median", "x")
    assert (PASS.name, PASS.kind, PASS.label) == ("pass", "binary", "pass@k")


def test_ci_of_one_value_and_every_index_drawn():
    assert bootstrap_ci(np.array([0.7])) == (0.7, 0.7)
    assert cluster_bootstrap_ci(np.array([0.7]), np.array(["a"])) == (0.7, 0.7)
    lone = np.array([1.0] + [0.0] * 9)  # the first problem is the only pass: some replicates must draw it
    assert bootstrap_ci(lone)[1] > 0
    assert cluster_bootstrap_ci(lone, np.array([f"p{i}" for i in range(10)]))[1] > 0


@pytest.mark.parametrize("ci", [bootstrap_ci, lambda v, **kw: cluster_bootstrap_ci(v, np.arange(len(v)), **kw)])
def test_confidence_sets_the_tails(ci):
    # normal quantiles: a 50% interval is 0.674 / 1.960 = 0.34 of a 95% one (0.45 if each tail got a third)
    v = np.random.default_rng(3).random(400)
    lo95, hi95 = ci(v)
    lo50, hi50 = ci(v, confidence=0.5)
    assert 0.29 < (hi50 - lo50) / (hi95 - lo95) < 0.40
    assert lo95 < lo50 < v.mean() < hi50 < hi95


def test_summary_with_some_records_unclustered():
    counts = {"a/0": (1, 1), "a/1": (1, 1), "b": (1, 0), "c": (1, 0)}
    s = summarize(counts, (1,), clusters={"a/0": "a", "a/1": "a", "b": None})  # c: not in the map
    values = np.array([1.0, 1.0, 0.0, 0.0])
    assert s["pass@1_ci"] == list(cluster_bootstrap_ci(values, np.array(["a", "a", "b", "c"])))


def test_mean_metric_with_every_record_in_a_cluster():
    em = Metric("edit_sim", "mean", "edit similarity")
    scores = {"x/0": [1.0], "x/1": [1.0], "x/2": [1.0], "y/0": [0.0], "z/0": [0.0], "w/0": [0.0]}
    clusters = {t: t.split("/")[0] for t in scores}
    vals = np.array([1.0, 1.0, 1.0, 0.0, 0.0, 0.0])
    assert summarize_metric(em, scores, clusters=clusters)["mean_ci"] == list(
        cluster_bootstrap_ci(vals, np.array(["x", "x", "x", "y", "z", "w"])))
