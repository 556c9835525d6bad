"""The lines ``evalkit run`` and ``evalkit evaluate`` print when a run is scored: per task, every declared metric
(pass@k with its CI for a binary metric, the mean with its CI for a mean one such as exact match)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from evalkit.results import metric_blocks, metric_keys, row_label


def plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def samples(n: Any) -> str:
    """Samples per problem: a number, or {"min", "max"} when problems have uneven counts."""
    if isinstance(n, dict):
        return f"{n.get('min')}-{n.get('max')} samples (uneven)"
    return plural(n, "sample")


def metric_parts(t: dict[str, Any]) -> list[str]:
    """'pass@1 0.5000 [0.300, 0.700]', 'base pass@1 ...', 'exact match 0.8000 [...]' for a task block."""
    parts = []
    for block in metric_blocks(t).values():
        for key in metric_keys(block):
            ci = block.get(f"{key}_ci")
            text = f"{row_label(block, key)} {block[key]:.4f}"
            if isinstance(ci, list) and len(ci) == 2:
                text += f" [{ci[0]:.3f}, {ci[1]:.3f}]"
            parts.append(text)
    return parts


def print_summary(results: dict, out_dir: Path) -> None:
    for name, t in results["tasks"].items():
        print(f"{name}: {plural(t['n_problems'], 'problem')} x {samples(t['n_samples_per_problem'])}  "
              + "  ".join(metric_parts(t)))
    print(f"results: {out_dir / 'results.json'}")
