"""Key retrieval: the prompt is token-exact (position and length, in the model's own tokenizer), deterministic,
holds the paper's key function and ends with the paper's assert; the reference answers score 1.0 and a constant
answer ~1/90."""

from __future__ import annotations

import statistics

import pytest
from conftest import TOKENIZERS

from evalkit.evaluators.match import code_tokens
from evalkit.longctx.keyprompt import KEY_TEMPLATE, TAIL, draw_value
from evalkit.metrics import summarize_metric
from evalkit.registry import get_task

KEY_HEAD = 'def my_function() -> int:\n    """Note that this function is used at the end\n    """\n    return '


def tokenizers() -> dict:
    import tiny

    out = {"tiny-llama": tiny.train_tokenizer("metaspace"), "tiny-gpt2": tiny.train_tokenizer("bytelevel")}
    if (TOKENIZERS / "codellama-7b").is_dir():
        from transformers import AutoTokenizer

        out["codellama"] = AutoTokenizer.from_pretrained(str(TOKENIZERS / "codellama-7b"))
    return out


@pytest.fixture(scope="module")
def toks() -> dict:
    return tokenizers()


def task(tok, lengths: str = "2k,3k", positions: str = "0,0.2,0.4,1", per_cell: int = 2, seed: int = 0):
    t = get_task("key-retrieval")
    t.configure(context_lengths=lengths, key_positions=positions, examples_per_cell=per_cell, prompt_seed=seed,
                filler="humaneval")
    t.use_tokenizer(tok)
    return t


def test_paper_text_and_grid() -> None:
    t = get_task("key-retrieval")
    assert KEY_TEMPLATE.format(value=42) == KEY_HEAD + "42\n"  # appendix G.2, p.31
    assert TAIL == "assert my_function() == "  # p.32
    assert t.lengths == (8000, 16000, 24000) and t.positions == (0.0, 0.2, 0.4)  # Table 17
    assert t.per_cell == 64


@pytest.mark.parametrize("name", ["tiny-llama", "tiny-gpt2", "codellama", "code-tokens"])
def test_function_at_requested_position_token_exact(toks: dict, name: str) -> None:
    if name != "code-tokens" and name not in toks:
        pytest.skip(f"no {name} tokenizer (give ../shared/tokenizers or EVALKIT_TOKENIZERS_DIR)")
    tok = toks.get(name)
    t = task(tok)
    for p in t.problems():
        text = t.prompt(p)
        length, pos = p.meta["length"], p.meta["position"]
        assert text.endswith(TAIL) and text.count("def my_function()") == 1
        start = text.index(KEY_HEAD)
        assert text[start:].startswith(KEY_HEAD + p.reference + "\n")
        if tok is None:
            ids, before = code_tokens(text), code_tokens(text[:start])
            n_key, n_tail = len(code_tokens(KEY_HEAD + p.reference + "\n\n")), len(code_tokens(TAIL))
            n_total, n_before = len(ids), len(before)
        else:
            enc = tok(text, add_special_tokens=False, return_offsets_mapping=True)
            n_total = len(enc["input_ids"])
            n_before = sum(1 for s, _ in enc["offset_mapping"] if s < start)
            # the key function's first token begins exactly at its first character
            assert enc["offset_mapping"][n_before][0] == start or text[start - 1:start].isspace() or start == 0
            n_key = len(tok(KEY_HEAD + p.reference + "\n\nx = 1\n", add_special_tokens=False)["input_ids"]) - \
                len(tok("x = 1\n", add_special_tokens=False)["input_ids"])
            n_tail = len(tok(TAIL, add_special_tokens=False)["input_ids"])
        assert n_before == round(pos * (length - n_key - n_tail)), (p.task_id, n_before)
        assert abs(n_total - length) <= 0.01 * length, (p.task_id, n_total)


def test_same_seed_same_bytes_other_seed_other_prompt(toks: dict) -> None:
    a, b, c = (task(toks["tiny-llama"], "2k", "0.2", 2, s) for s in (0, 0, 1))
    pa = [a.prompt(p) for p in a.problems()]
    assert pa == [b.prompt(p) for p in b.problems()]
    assert pa != [c.prompt(p) for p in c.problems()]
    # the recipe is recorded (the prompts' hash is the run's prompt_sha256, as for every task); info() does not
    # change once prompts are built (a run's fingerprint is made of it)
    ia, ib = a.info(), b.info()
    fresh = task(toks["tiny-llama"], "2k", "0.2", 2, 0)
    fresh.problems()
    assert ia == ib == fresh.info()
    assert ia["recipe"]["seed"] == 0 and ia["filler"]["deviation"] and ia["filler"]["licence"] == "MIT"
    assert a.dataset_sha256 == b.dataset_sha256 != c.dataset_sha256  # the answers depend on the seed


def test_known_prompt_hash() -> None:
    """Any machine builds the same bytes: the hash of one prompt (evalkit code tokens, HumanEval filler)."""
    import hashlib

    t = task(None, "1k", "0.4", 1)
    p = t.problems()[0]
    assert p.reference == draw_value(0, 1000, 0.4, 0)
    digest = hashlib.sha256(t.prompt(p).encode()).hexdigest()
    assert digest == KNOWN_SHA256, digest


KNOWN_SHA256 = "250b6a7a12f90485b39d29a190d57044631893b177d78d9d293fb0c7620930ae"


def test_reference_scores_one_constant_scores_one_in_ninety() -> None:
    t = get_task("key-retrieval")
    t.configure(context_lengths="8k,16k,24k", key_positions="0,0.2,0.4", examples_per_cell=64, filler="humaneval")
    problems = t.problems()
    assert len(problems) == 9 * 64
    values = [int(p.reference) for p in problems]
    assert min(values) >= 10 and max(values) <= 99
    ref = {p.task_id: [t.judge(p, {"completion": p.reference}).scores["accuracy"]] for p in problems}
    const = {p.task_id: [t.judge(p, {"completion": "42"}).scores["accuracy"]] for p in problems}
    metric = t.metrics[0]
    assert metric.kind == "mean" and metric.name == "accuracy"
    assert summarize_metric(metric, ref)["mean"] == 1.0
    acc = summarize_metric(metric, const)["mean"]
    # 576 draws of a uniform 10..99 value: 1/90 = 0.011, binomial sd 0.0044
    assert abs(acc - 1 / 90) < 4 * (1 / 90 * 89 / 90 / 576) ** 0.5, acc
    # every value is about as frequent (the draw is uniform)
    counts = [values.count(v) for v in range(10, 100)]
    assert statistics.mean(counts) == 576 / 90 and max(counts) < 20


def test_summary_per_cell() -> None:
    from tasks.key_retrieval import cells

    rows = [{"task_id": "8000/0/0", "scores": {"accuracy": 1.0}}, {"task_id": "8000/0/1", "scores": {"accuracy": 0.0}},
            {"task_id": "16000/0.2/0", "passed": True}]
    assert cells(rows) == {"8000": {"0": 0.5}, "16000": {"0.2": 1.0}}


def test_bad_options_are_user_errors() -> None:
    from evalkit.errors import UserError

    t = get_task("key-retrieval")
    for kw in ({"context_lengths": "8q"}, {"key_positions": "1.5"}, {"examples_per_cell": 0},
               {"context_lengths": "100"}):
        with pytest.raises(UserError):
            t.configure(**kw)


def test_code_contests_filler_from_local_files(tmp_path) -> None:
    """The paper's filler from a local copy (DATA_DIR/code_contests, rows as on the hub): Python 3 solutions that
    parse and do not name the key function, deduplicated, in a fixed order; other languages left out."""
    import json

    d = tmp_path / "code_contests"
    d.mkdir()
    sols = {"language": [3, 2, 3, 3, 3, 1],
            "solution": ["n = int(input())\nprint(n * 2)\n", "int main() { return 0; }", "def f(:\n    pass",
                         "def my_function():\n    return 1\n", "n = int(input())\nprint(n * 2)\n",
                         "print 'python 2'"]}
    (d / "valid.jsonl").write_text(json.dumps({"name": "b", "solutions": sols}) + "\n")
    (d / "test.jsonl").write_text(json.dumps({"name": "a", "solutions": {"language": [3], "solution": [
        "import sys\nfor line in sys.stdin:\n    print(line.strip()[::-1])\n"]}}) + "\n")
    t = get_task("key-retrieval", data_dir=str(tmp_path))
    t.configure(context_lengths="1k", key_positions="0.5", examples_per_cell=1)
    f = t.filler()
    assert f.pieces == ("n = int(input())\nprint(n * 2)\n",
                        "import sys\nfor line in sys.stdin:\n    print(line.strip()[::-1])\n")
    assert "code_contests" in f.source and f.licence == "CC-BY-4.0" and "deviation" not in f.info()
    text = t.prompt(t.problems()[0])
    assert "print(n * 2)" in text and text.endswith("assert my_function() == ")
