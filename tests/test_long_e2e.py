"""Long-context tasks end to end through ``evalkit run``: the reference backend scores 1.0 on key retrieval and
LCC; a tiny Llama (RoPE base 1e6, 16k positions) answers an ~8k-token key-retrieval prompt with both engines,
with equal greedy output. These meet the runner's judging contract (tasks judged without the sandbox) and the
engine's long prompts: each test says what is missing when a part has not landed yet."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import evalkit

from evalkit.task import Task

FIXTURES = Path(__file__).parent / "data"
TARGET = 8000


def need_integration() -> None:
    if not hasattr(Task, "judge") or not hasattr(Task, "execution"):
        pytest.skip("the runner's judging contract (Task.execution / Task.judge, tasks judged without the sandbox) "
                    "has not landed on this branch")
    r = evalkit("run", "--help")
    if "--context-lengths" not in r.stdout:
        pytest.skip("`evalkit run` lacks the long-context options (evalkit.longctx.options.add_arguments)")


def results(out: Path) -> dict:
    return json.loads((out / "results.json").read_text())


def metric_mean(block: dict, name: str) -> float:
    m = (block.get("metrics") or {}).get(name) or {}
    return m.get("mean", block.get(name))


def test_reference_scores_one(tmp_path: Path) -> None:
    need_integration()
    out = tmp_path / "ref"
    r = evalkit("run", "--model", "reference", "--tasks", "key-retrieval,lcc-python", "--data-dir", str(FIXTURES),
                "--context-lengths", "1k", "--key-positions", "0,0.5", "--examples-per-cell", "3",
                "--filler", "humaneval", "--lcc-balanced-n", "6", "--output-dir", str(out))
    assert r.returncode == 0, r.stderr
    doc = results(out)
    kr, lcc = doc["tasks"]["key-retrieval"], doc["tasks"]["lcc-python"]
    assert metric_mean(kr, "accuracy") == 1.0
    assert metric_mean(lcc, "exact_match") == 1.0 and metric_mean(lcc, "edit_similarity") == 1.0
    # what produced the prompts is recorded
    assert kr["filler"]["deviation"] and kr["recipe"]["context_lengths"] == [1000] and kr["prompt_sha256"]
    assert kr["by_cell"] == {"1000": {"0": 1.0, "0.5": 1.0}}
    assert lcc["lcc_balanced"]["n"] == 6 and lcc["by_bucket"]["<4k"]["exact_match"] == 1.0


def tiny_long_llama(directory: Path) -> Path:
    import torch
    import transformers
    from tiny import train_tokenizer

    tok = train_tokenizer("metaspace")
    cfg = transformers.LlamaConfig(vocab_size=len(tok), bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
                                   hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                                   num_key_value_heads=2, max_position_embeddings=16384, rope_theta=1e6)
    torch.manual_seed(0)
    model = transformers.AutoModelForCausalLM.from_config(cfg)
    directory.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(directory)
    tok.save_pretrained(directory)
    return directory


def test_tiny_llama_8k_prompt_is_in_its_tokens(tmp_path: Path) -> None:
    """Without the integration: the prompt built with the checkpoint's own tokenizer is ~8k of its tokens."""
    from transformers import AutoConfig, AutoTokenizer

    from evalkit.registry import get_task

    d = tiny_long_llama(tmp_path / "tiny")
    cfg = AutoConfig.from_pretrained(d)
    theta = getattr(cfg, "rope_theta", None) or (getattr(cfg, "rope_parameters", None) or {}).get("rope_theta")
    assert theta == 1e6 and cfg.max_position_embeddings == 16384
    tok = AutoTokenizer.from_pretrained(d)
    t = get_task("key-retrieval")
    t.configure(context_lengths="8k", key_positions="0.5", examples_per_cell=1, filler="humaneval")
    t.use_tokenizer(tok, "tiny")
    text = t.prompt(t.problems()[0])
    n = len(tok(text, add_special_tokens=False)["input_ids"])
    assert abs(n - TARGET) <= TARGET // 100 and n + 1 < cfg.max_position_embeddings
    assert t.info()["length_unit"].startswith("tiny")


def test_tiny_llama_8k_key_retrieval_both_engines(tmp_path: Path) -> None:
    need_integration()
    d = tiny_long_llama(tmp_path / "tiny")
    gens = {}
    for engine in ("fast", "eager"):
        out = tmp_path / engine
        r = evalkit("run", "--model", str(d), "--tasks", "key-retrieval", "--context-lengths", "8k",
                    "--key-positions", "0.5", "--examples-per-cell", "1", "--filler", "humaneval",
                    "--temperature", "0", "--max-new-tokens", "4", "--engine", engine, "--device", "cpu",
                    "--output-dir", str(out), timeout=900)
        if r.returncode == 2 and any(w in r.stderr for w in ("longer than", "window", "too long")):
            pytest.skip(f"the {engine} engine does not take an 8k-token prompt yet: {r.stderr.strip()[:200]}")
        assert r.returncode == 0, r.stderr
        doc = results(out)
        kr = doc["tasks"]["key-retrieval"]
        assert kr["n_problems"] == 1 and "code tokens" not in kr["length_unit"]  # the model's own tokens
        rows = [json.loads(line) for line in (out / "samples.jsonl").read_text().splitlines()]
        gens[engine] = [row.get("raw_generation", row.get("completion")) for row in rows]
    assert gens["fast"] == gens["eager"]
