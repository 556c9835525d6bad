"""LCC on fixture files (tests/data/lcc, written for these tests): LCC-balanced resampling, truncation to the last
N tokens, the first-newline cut, EM / edit similarity / BLEU, results per file-length bucket."""

from __future__ import annotations

from pathlib import Path

import pytest

from evalkit.evaluators.match import code_tokens
from evalkit.longctx.balance import BUCKETS, Rule, balanced, bucket
from evalkit.longctx.tokens import CodeTokenCounter
from evalkit.metrics import summarize_metric
from evalkit.registry import get_task

FIXTURES = Path(__file__).parent / "data"
# code tokens of the python fixture contexts, in (split, row) order: validation 0-5, test 0-3
SIZES = [22, 27, 43, 86, 103, 146, 12, 67, 112, 148]


def lcc(lang: str = "python", **kw):
    t = get_task(f"lcc-{lang}", data_dir=str(FIXTURES))
    t.configure(**kw)
    return t


def test_fixture_sizes() -> None:
    t = lcc(balanced_n=100)  # more than there are: all of them
    assert [p.meta["code_tokens"] for p in t.problems()] == SIZES
    assert [p.task_id for p in t.problems()][:2] == ["LCC_python/validation/0", "LCC_python/validation/1"]


def test_balancing_equal_counts_per_bin() -> None:
    # bins of 50 code tokens: [0,50): rows 0,1,2,6; [50,100): 3,7; [100,...): 4,5,8,9
    rule = Rule(6, bins=3, bin_width=50, seed=0)
    keep = balanced(SIZES, rule)
    assert len(keep) == 6
    per_bin = [sum(1 for i in keep if min(SIZES[i] // 50, 2) == b) for b in range(3)]
    assert per_bin == [2, 2, 2]
    assert keep == sorted(keep) and keep == balanced(SIZES, rule)  # data order, deterministic


def test_balancing_short_bin_deficit_goes_to_the_longest_bins() -> None:
    # n=8: want 3, 3, 2; the middle bin has only 2, its missing one comes from the longest bin
    keep = balanced(SIZES, Rule(8, bins=3, bin_width=50, seed=0))
    per_bin = [sum(1 for i in keep if min(SIZES[i] // 50, 2) == b) for b in range(3)]
    assert per_bin == [3, 2, 3]
    assert {3, 7} <= set(keep)


def test_balancing_seed_changes_the_draw_and_is_recorded() -> None:
    draws = {tuple(balanced(SIZES, Rule(3, bins=1, bin_width=1000, seed=s))) for s in range(6)}
    assert len(draws) > 1
    t = lcc(balanced_n=6, bins=3, bin_width=50, balance_seed=7)
    info = t.info()["lcc_balanced"]
    assert info["seed"] == 7 and info["n"] == 6 and "equal counts" in info["rule"]
    assert len(t.problems()) == 6


def test_paper_sizes_by_default() -> None:
    assert [get_task(f"lcc-{x}").rule.n for x in ("python", "java", "csharp")] == [548, 412, 512]


def test_truncation_to_last_tokens() -> None:
    t = lcc(balanced_n=100, max_prompt_tokens=10)
    p = t.problems()[5]
    full = p.prompt
    cut = t.prompt(p)
    assert full.endswith(cut) and len(code_tokens(cut)) == 10
    assert code_tokens(cut) == code_tokens(full)[-10:]
    assert t.file_tokens(p) == len(code_tokens(full))  # buckets use the whole file
    whole = lcc(balanced_n=100)
    assert whole.prompt(whole.problems()[5]) == full  # long-context protocol: the whole file


def test_truncation_with_a_model_tokenizer() -> None:
    import tiny

    from evalkit.longctx.tokens import HFTokenCounter

    tok = tiny.train_tokenizer("metaspace")
    c = HFTokenCounter(tok)
    text = "def f(x):\n    return x + 1\n" * 40
    tail = c.tail(text, 50)
    assert text.endswith(tail) and c.count(tail) <= 50 and c.count(tail) >= 48
    assert CodeTokenCounter().tail("a b c d", 2) == "c d"


def test_reference_scores_one_and_metrics_by_hand() -> None:
    t = lcc(balanced_n=100)
    problems = t.problems()
    assert [m.name for m in t.metrics] == ["exact_match", "bleu", "edit_similarity"]
    assert all(m.kind == "mean" for m in t.metrics) and t.execution(problems[0], {"completion": ""}) is None
    v = {p.task_id: t.judge(p, {"completion": p.reference + "\nmore code"}) for p in problems}
    for m in t.metrics:
        assert summarize_metric(m, {k: [x.scores[m.name]] for k, x in v.items()})["mean"] == 1.0
    # hand-computed: gt "        self.y = y", prediction "        self.x = x\n        self.y = y"
    p = problems[0]
    w = t.judge(p, {"completion": "        self.x = x\n        self.y = y"})
    # first line only: "self . x = x" vs "self . y = y" (12 chars each, two differ): ratio (24 - 4) / 24
    assert w.scores["exact_match"] == 0.0 and w.scores["edit_similarity"] == pytest.approx(20 / 24)
    # BLEU: 5 tokens, p1 3/5, p2 (1+1)/(4+1), p3 (0+1)/(3+1), p4 (0+1)/(2+1), no brevity penalty
    import math

    want = math.exp((math.log(3 / 5) + math.log(2 / 5) + math.log(1 / 4) + math.log(1 / 3)) / 4)
    assert w.scores["bleu"] == pytest.approx(want)


def test_results_per_bucket() -> None:
    assert [bucket(n) for n in (0, 3999, 4000, 12000, 23999, 32000, 10**6)] == \
        ["<4k", "<4k", "4-8k", "12-16k", "16-24k", ">32k", ">32k"]
    assert len(BUCKETS) == 7
    t = lcc(balanced_n=100)
    rows = [{"task_id": p.task_id, "scores": {"exact_match": 1.0, "bleu": 0.5, "edit_similarity": 0.75}}
            for p in t.problems()]
    out = t.summary_extra(rows, [1])["by_bucket"]
    assert out == {"<4k": {"n": 10, "exact_match": 1.0, "bleu": 0.5, "edit_similarity": 0.75}}


@pytest.mark.parametrize("lang", ["java", "csharp"])
def test_other_languages(lang: str) -> None:
    t = lcc(lang, balanced_n=10)
    ps = t.problems()
    assert len(ps) == 3 and all(t.judge(p, {"completion": p.reference}).outcome == "passed" for p in ps)


def test_missing_split_is_one_clear_error(tmp_path: Path) -> None:
    from evalkit.errors import UserError

    (tmp_path / "lcc" / "python").mkdir(parents=True)
    (tmp_path / "lcc" / "python" / "validation.jsonl").write_text('{"context": "x = 1\\n", "gt": "y = 2"}\n')
    with pytest.raises(UserError, match="test.jsonl"):
        get_task("lcc-python", data_dir=str(tmp_path)).problems()


def test_prompt_ends_with_a_newline(tmp_path: Path) -> None:
    d = tmp_path / "lcc" / "python"
    d.mkdir(parents=True)
    (d / "validation.jsonl").write_text('{"context": "import os\\nx = 1", "gt": "y = 2"}\n')
    (d / "test.jsonl").write_text('{"context": "import os\\n", "gt": "z = 3"}\n')
    t = get_task("lcc-python", data_dir=str(tmp_path))
    assert [t.prompt(p) for p in t.problems()] == ["import os\nx = 1\n", "import os\n"]


def test_chat_answers() -> None:
    t = lcc(balanced_n=100)
    p = t.problems()[0]
    user, prefix = t.chat_prompt(p)
    assert p.prompt in user and prefix == "```python\n"
    got = t.postprocess_chat(p, prefix + p.reference.strip() + "\n```\nThat line sets y.")
    assert t.judge(p, got).scores["exact_match"] == 1.0
    kr = get_task("key-retrieval")
    kr.configure(context_lengths="1k", key_positions="0", examples_per_cell=1, filler="humaneval")
    q = kr.problems()[0]
    user, prefix = kr.chat_prompt(q)
    assert user.startswith("Complete the following code.") and prefix.endswith("assert my_function() == ")
    assert kr.judge(q, kr.postprocess_chat(q, prefix + q.reference + "\n```")).scores["accuracy"] == 1.0
