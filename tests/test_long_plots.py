"""The Fig. 4b and Fig. 9b curves from results (a run's results.json shape and the paper's reference rows)."""

from __future__ import annotations

import pytest

from evalkit.longctx.plots import (
    key_retrieval_figure,
    key_retrieval_html,
    key_retrieval_series,
    lcc_html,
    lcc_series,
)
from evalkit.results import reference_tables


def run_doc() -> dict:
    return {"tasks": {
        "key-retrieval": {"by_cell": {"16000": {"0": 0.5, "0.5": 1.0, "1": 0.75}}},
        "lcc-python": {"by_bucket": {"4-8k": {"n": 3, "exact_match": 0.4, "bleu": 0.6},
                                     "<4k": {"n": 2, "exact_match": 0.5, "bleu": 0.7}}},
    }}


def test_series_from_a_run_and_the_paper() -> None:
    paper = reference_tables()["codellama-7b"]
    s = key_retrieval_series({"run": run_doc(), "paper 7B": paper})
    assert s[0] == ("run", [0.0, 0.5, 1.0], [0.5, 1.0, 0.75])
    names = [n for n, _, _ in s]
    assert names[1:] == ["paper 7B, 4k", "paper 7B, 8k", "paper 7B, 16k", "paper 7B, 24k"]
    assert s[3][2] == [0.547, 1.0, 0.984]  # Table 17, 16,000 tokens
    assert lcc_series({"run": run_doc()}) == [("run, lcc-python", ["<4k", "4-8k"], [0.5, 0.4])]
    assert lcc_series({"run": run_doc()}, "bleu")[0][2] == [0.7, 0.6]
    assert key_retrieval_series({"empty": {"tasks": {}}}) == [] and lcc_html({"empty": {"tasks": {}}}) == ""


def test_figures_render() -> None:
    pytest.importorskip("matplotlib")
    fig = key_retrieval_figure({"run": run_doc()})
    ax = fig.axes[0]
    assert [list(line.get_ydata()) for line in ax.get_lines()] == [[50.0, 100.0, 75.0]]
    html = key_retrieval_html({"run": run_doc()})
    assert html.startswith("<svg") and "Key retrieval" in html
    assert lcc_html({"run": run_doc()}).startswith("<svg")
