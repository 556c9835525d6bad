"""pass@k (the unbiased estimator of Chen et al. 2021) and bootstrap confidence intervals over problems
(over source problems, a cluster bootstrap, when records of one problem are dependent)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

DEFAULT_KS = (1, 10, 100)


@dataclass(frozen=True)
class Metric:
    """A score a task declares. Each sample row of samples.jsonl has ``scores[name]``; results.json has, per task,
    ``metrics[name]``: for a ``binary`` metric (a score of 0 or 1 per sample) pass@k with CIs over problems
    (``"pass@1"``, ``"pass@1_ci"``, ...) and ``problems`` = {task_id: [n, c]}; for a ``mean`` metric (a score in
    [0, 1] per sample: exact match, edit similarity) the mean over problems of the per-problem mean, with a
    bootstrap CI (``"mean"``, ``"mean_ci"``) and ``problems`` = {task_id: [n, sum of scores]}. The first declared
    metric is the task's headline; a binary headline named ``pass`` is also written as the task's own
    ``pass@k`` keys, as before."""

    name: str
    kind: str  # "binary" | "mean"
    label: str  # what tables show: "pass@k", "base pass@k", "exact match", "edit similarity"

    def __post_init__(self) -> None:
        if self.kind not in ("binary", "mean"):
            raise ValueError(f"metric kind must be binary or mean, not {self.kind!r}")


PASS = Metric("pass", "binary", "pass@k")


def summarize_metric(metric: Metric, per_problem: Mapping[str, Sequence[float]], ks: Iterable[int] = DEFAULT_KS,
                     clusters: Mapping[str, str | None] | None = None) -> dict[str, object]:
    """One declared metric's block of results.json from its scores per problem (task_id -> the samples' scores)."""
    out: dict[str, object] = {"kind": metric.kind, "label": metric.label}
    if metric.kind == "binary":
        counts = {t: (len(v), int(sum(1 for x in v if x >= 1))) for t, v in per_problem.items()}
        out |= summarize(counts, ks, clusters=clusters)
        out["problems"] = {t: [n, c] for t, (n, c) in counts.items()}
        return out
    sums = {t: (len(v), float(sum(v))) for t, v in per_problem.items()}
    vals = np.array([s / n for n, s in sums.values()], dtype=float)
    if len(vals):
        out["mean"] = float(vals.mean())
        if clusters and any(c is not None for c in clusters.values()):
            groups = np.array([clusters.get(t) or t for t in sums])
            lo, hi = cluster_bootstrap_ci(vals, groups)
        else:
            lo, hi = bootstrap_ci(vals)
        out["mean_ci"] = [lo, hi]
    out["problems"] = {t: [n, s] for t, (n, s) in sums.items()}
    return out


def pass_at_k(n: int, c: int, k: int) -> float:
    """Probability that at least one of k samples drawn without replacement from n (c correct) passes.

    1 - C(n-c, k) / C(n, k), computed as a product to stay exact for large n.
    """
    if not 0 <= c <= n or k < 1 or k > n:
        raise ValueError(f"pass@k needs 0 <= c <= n and 1 <= k <= n (n={n}, c={c}, k={k})")
    if n - c < k:
        return 1.0
    return float(1.0 - np.prod(1.0 - k / np.arange(n - c + 1, n + 1)))


def per_problem_pass_at_k(counts: Iterable[tuple[int, int]], k: int) -> np.ndarray:
    return np.array([pass_at_k(n, c, k) for n, c in counts], dtype=float)


def bootstrap_ci(
    values: np.ndarray, *, confidence: float = 0.95, n_boot: int = 2000, seed: int = 0
) -> tuple[float, float]:
    """Percentile bootstrap of the mean over problems (resampling problems with replacement)."""
    if len(values) == 0:
        return (float("nan"), float("nan"))
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(values), size=(n_boot, len(values)))
    means = values[idx].mean(axis=1)
    alpha = (1 - confidence) / 2
    lo, hi = np.quantile(means, [alpha, 1 - alpha])
    return (float(lo), float(hi))


def cluster_bootstrap_ci(
    values: np.ndarray, groups: np.ndarray, *, confidence: float = 0.95, n_boot: int = 2000, seed: int = 0
) -> tuple[float, float]:
    """Percentile bootstrap of the mean over records that come in dependent groups (clusters): whole clusters are
    resampled with replacement, and each replicate is the mean over the records of the drawn clusters."""
    if len(values) == 0:
        return (float("nan"), float("nan"))
    _, g = np.unique(groups, return_inverse=True)
    sums = np.bincount(g, weights=values)
    sizes = np.bincount(g).astype(float)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(sums), size=(n_boot, len(sums)))
    means = sums[idx].sum(axis=1) / sizes[idx].sum(axis=1)
    alpha = (1 - confidence) / 2
    lo, hi = np.quantile(means, [alpha, 1 - alpha])
    return (float(lo), float(hi))


def summarize(counts: Mapping[str, tuple[int, int]], ks: Iterable[int] = DEFAULT_KS,
              clusters: Mapping[str, str | None] | None = None) -> dict[str, object]:
    """pass@k and its 95% CI for every k <= the smallest n; counts maps task_id -> (n samples, c correct).
    With ``clusters`` (task_id -> the independent unit it belongs to) the CI resamples clusters, not records."""
    out: dict[str, object] = {}
    if not counts:
        return out
    pairs = list(counts.values())
    n_min = min(n for n, _ in pairs)
    for k in sorted(set(ks)):
        if k > n_min:
            continue
        vals = per_problem_pass_at_k(pairs, k)
        out[f"pass@{k}"] = float(vals.mean())
        if clusters:
            groups = np.array([clusters.get(t) or t for t in counts])
            lo, hi = cluster_bootstrap_ci(vals, groups)
        else:
            lo, hi = bootstrap_ci(vals)
        out[f"pass@{k}_ci"] = [lo, hi]
    return out


def default_ks(n: int) -> list[int]:
    """The k values reported for n samples per problem: 1, 10, 100 where k <= n."""
    return [k for k in DEFAULT_KS if k <= n]
