"""Issue 6: HumanEval-infilling with FIM layouts built at the token level, checked against real tokenizers."""

from __future__ import annotations

import json

import pytest
from conftest import TOKENIZERS, data_dir, evalkit, expected

SUBSETS = {"humaneval-infill-single": 1033, "humaneval-infill-multi": 5815, "humaneval-infill-random": 1640,
           "humaneval-infill-random-light": 164}
FIXTURE_RECORDS = 6  # records per subset in tests/data

# prefixes ending in spaces or newlines, suffixes starting with spaces or tabs
PAIRS = [
    ("def f(x):\n    ", "\n    return y\n"),
    ("def f(x):\n", "    return x\n"),
    ("a = 1 ", "  b = 2"),
    ("x = [\n  ", "\t1]\n"),
    ("import os\n\n\n", " \tpass"),
    ("", "z = 0\n"),
    ("def g():\n    s = 'héllo ☺'  ", "\n\n# done\n"),
]


@pytest.fixture(autouse=True)
def _data():
    data_dir()


@pytest.mark.parametrize("task,n", list(SUBSETS.items()))
def test_reference_middles_pass(task, n, tmp_path):
    out = tmp_path / "o"
    r = evalkit("run", "--tasks", task, "--output-dir", str(out))
    assert r.returncode == 0, r.stderr[-2000:]
    t = json.loads((out / "results.json").read_text())["tasks"][task]
    assert t["n_problems"] == expected(n, FIXTURE_RECORDS) and t["pass@1"] == 1.0, t["outcomes"]


def _tok(name: str):
    from transformers import AutoTokenizer

    d = TOKENIZERS / name
    if not d.is_dir():
        pytest.skip(f"{d} not present")
    return AutoTokenizer.from_pretrained(d), d


def test_codellama_layout_equals_meta_reference_with_sentencepiece():
    import sentencepiece as spm

    from evalkit.backends.fim import detect_fim

    tok, d = _tok("codellama-7b")
    sp = spm.SentencePieceProcessor(model_file=str(d / "tokenizer.model"))
    pre_id, suf_id, mid_id, eot_id = (sp.piece_to_id(p) for p in ("▁<PRE>", "▁<SUF>", "▁<MID>", "▁<EOT>"))
    assert (pre_id, suf_id, mid_id, eot_id) == (32007, 32008, 32009, 32010)
    layout = detect_fim(tok)
    assert layout.family == "codellama" and layout.end_tokens == [eot_id]

    def enc_nospace(s: str) -> list[int]:  # Meta's encode_infilling
        return sp.encode("☺" + s)[2:]

    for pre, suf in PAIRS:
        psm = [sp.bos_id(), pre_id] + sp.encode(pre) + [suf_id] + enc_nospace(suf) + [mid_id]
        spm_ = [sp.bos_id(), pre_id, suf_id] + enc_nospace(suf) + [mid_id] + sp.encode(pre)
        assert layout.encode(tok, pre, suf, "psm") == psm, (pre, suf)
        assert layout.encode(tok, pre, suf, "spm") == spm_, (pre, suf)


@pytest.mark.parametrize("name,family,sentinels", [
    ("starcoderbase-1b", "starcoder", ("<fim_prefix>", "<fim_suffix>", "<fim_middle>")),
    ("deepseek-coder-6.7b-instruct", "deepseek-coder", ("<｜fim▁begin｜>", "<｜fim▁hole｜>", "<｜fim▁end｜>")),
    ("qwen2.5-coder-0.5b-instruct", "qwen2.5-coder", ("<|fim_prefix|>", "<|fim_suffix|>", "<|fim_middle|>")),
])
def test_bpe_families_equal_their_documented_text_layout(name, family, sentinels):
    """The documented prompts are text with the sentinels spelled out; their ids must equal ours."""
    from evalkit.backends.fim import detect_fim

    tok, d = _tok(name)
    if (d / "tokenizer.json").exists():  # an independent encoder: the tokenizers library on the file itself
        from tokenizers import Tokenizer

        raw = Tokenizer.from_file(str(d / "tokenizer.json"))
        reference = lambda text: raw.encode(text, add_special_tokens=False).ids  # noqa: E731
    else:
        reference = lambda text: tok.encode(text, add_special_tokens=False)  # noqa: E731
    layout = detect_fim(tok)
    assert layout.family == family
    p, s, m = sentinels
    for pre, suf in PAIRS:
        assert layout.encode(tok, pre, suf, "psm") == reference(f"{p}{pre}{s}{suf}{m}"), (pre, suf)
        assert layout.encode(tok, pre, suf, "spm") == reference(f"{p}{s}{suf}{m}{pre}"), (pre, suf)


@pytest.mark.parametrize("mode", ["psm", "spm"])
def test_tiny_fim_model_runs_every_subset(mode, tiny_models, tmp_path):
    model = tiny_models("gpt_bigcode", fim=True)
    out = tmp_path / "o"
    r = evalkit("run", "--model", str(model), "--tasks", ",".join(SUBSETS), "--limit", "2", "--fim", mode,
                "--max-new-tokens", "16", "--output-dir", str(out))
    assert r.returncode == 0, r.stderr[-2000:]
    res = json.loads((out / "results.json").read_text())
    assert set(res["tasks"]) == set(SUBSETS)
    assert res["model"]["fim"] == {"family": "starcoder", "mode": mode,
                                   "tokens": {"prefix": "<fim_prefix>", "suffix": "<fim_suffix>",
                                              "middle": "<fim_middle>", "end": [0]}}
    rows = [json.loads(x) for x in (out / "samples.jsonl").read_text().splitlines()]
    assert len(rows) == 8
    for row in rows:
        assert "raw_generation" in row and row["model_input"].startswith("<fim_prefix>" if mode == "psm" else
                                                                        "<fim_prefix><fim_suffix>")
        if row["task"] == "humaneval-infill-single":
            assert row["completion"].count("\n") <= 1 and row["raw_generation"].startswith(row["completion"])


def test_model_without_fim_tokens_is_a_clear_error(tiny_models, tmp_path):
    r = evalkit("run", "--model", str(tiny_models("gpt2")), "--tasks", "humaneval-infill-single", "--limit", "1",
                "--output-dir", str(tmp_path / "o"))
    assert r.returncode == 2 and "no fill-in-the-middle tokens" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "o").exists()


def test_fim_tokens_override(tiny_models, tmp_path):
    model = tiny_models("gpt2")  # no FIM tokens of a known family; borrow three ordinary special tokens
    r = evalkit("prompt", "--task", "humaneval-infill-single", "--model", str(model), "--fim-tokens",
                "<s>,</s>,<unk>", "--ids")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("<s>")


def test_prompt_shows_the_spm_layout_token_by_token(tiny_models):
    from transformers import AutoTokenizer

    from evalkit.backends.fim import detect_fim
    from evalkit.registry import get_task

    model = tiny_models("gpt_bigcode", fim=True)
    r = evalkit("prompt", "--task", "humaneval-infill-single", "--model", str(model), "--fim", "spm", "--ids")
    assert r.returncode == 0, r.stderr
    tok = AutoTokenizer.from_pretrained(model)
    p = get_task("humaneval-infill-single").problems()[0]
    ids = detect_fim(tok).encode(tok, p.prompt, p.suffix, "spm")
    listing = r.stdout.split(" tokens (id, piece) ---\n", 1)[1].splitlines()
    assert [int(x.split("\t")[0]) for x in listing] == ids
    assert listing[0].endswith("'<fim_prefix>'") and listing[1].endswith("'<fim_suffix>'")


def test_single_line_cut():
    from evalkit.registry import get_task

    t = get_task("humaneval-infill-single")
    p = t.problems()[0]
    assert t.postprocess(p, "    x = 1\n    y = 2\n") == "    x = 1\n"
    assert t.postprocess(p, "    x = 1") == "    x = 1"
    assert get_task("humaneval-infill-multi").postprocess(p, "a\nb\n") == "a\nb\n"



@pytest.mark.parametrize("tokens,family,end", [
    (["<|fim_prefix|>", "<|fim_suffix|>", "<|fim_middle|>", "<|file_separator|>"], "codegemma", "<|file_separator|>"),
    (["<|fim_prefix|>", "<|fim_suffix|>", "<|fim_middle|>", "<|endoftext|>"], "qwen2.5-coder", "<|endoftext|>"),
    (["<fim_prefix>", "<fim_suffix>", "<fim_middle>", "<file_sep>"], "starcoder", "<|endoftext|>"),  # StarCoder2
    (["<fim-prefix>", "<fim-suffix>", "<fim-middle>", "<|endoftext|>"], "santacoder", "<|endoftext|>"),
])
def test_family_detection_from_special_tokens(tokens, family, end):
    """Families without tokenizer files here: detection from their documented special tokens."""
    import tiny

    from evalkit.backends.fim import detect_fim

    tok = tiny.train_tokenizer("bytelevel", vocab_size=300)
    tok.add_special_tokens({"additional_special_tokens": tokens})
    layout = detect_fim(tok)
    vocab = tok.get_vocab()
    assert layout.family == family
    assert (layout.prefix_id, layout.suffix_id, layout.middle_id) == tuple(vocab[t] for t in tokens[:3])
    assert layout.end_tokens == [vocab[end]]
    ids = layout.encode(tok, "def f():\n    ", "\n    return 1\n", "psm")
    assert ids[0] == vocab[tokens[0]] and ids[-1] == vocab[tokens[2]]
