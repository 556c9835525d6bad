"""The fast engine's second step (issue 22) on tiny random models: top-p without a sort, decode attention over
real lengths, the capture path and its fallback, run-level graphs, slots capped at the requests, out-of-memory
retry, dynamic-RoPE detection, the window rule shared with the eager path, a GQA model with prompts of 2 to 2,000
tokens in one batch."""

from __future__ import annotations

import pytest
from test_engine import PROMPTS, _backend, _generate, _model

torch = pytest.importorskip("torch")

from evalkit.backends import sampling  # noqa: E402
from evalkit.backends import slots as sl  # noqa: E402
from evalkit.backends.base import GenerationParams, GenerationRequest, sample_seed  # noqa: E402
from evalkit.backends.graphs import EagerGraphs  # noqa: E402
from evalkit.errors import UserError  # noqa: E402

GREEDY = GenerationParams(max_new_tokens=8)


def _reqs(n_prompts: int = 3, samples: int = 3, **kw) -> list[GenerationRequest]:
    return [GenerationRequest(key=("t", str(i), j), prompt=p, seed=sample_seed(0, "t", str(i), j),
                              max_new_tokens=3 + (i + j) % 5, **kw)
            for i, p in enumerate(PROMPTS[:n_prompts]) for j in range(samples)]


def test_top_p_threshold_equals_the_sorted_rule():
    """The threshold search keeps exactly the tokens the sort-based rule keeps (flat, peaked, tied rows)."""
    g = torch.Generator().manual_seed(0)
    logits = torch.cat([torch.randn(8, 32016, generator=g) * s for s in (0.5, 3.0, 8.0)])
    logits[0, :10] = 5.0  # ties at the top
    for top_p in (0.5, 0.9, 0.95):
        params = GenerationParams(temperature=0.8, top_p=top_p)
        fast = sampling.sampling_probs(logits, params) > 0
        ref = sampling.sampling_probs_sorted(logits, params) > 0
        assert torch.equal(fast, ref), f"top_p={top_p}: {int((fast != ref).sum())} tokens differ"
        assert int(fast.sum(-1).min()) >= 1


@pytest.mark.parametrize("kvh", [4, 2, 1])
def test_flex_decode_attention_equals_sdpa_over_real_lengths(kvh):
    """FlexAttention with the per-row length block mask (eager on CPU) == the SDPA fallback == a plain softmax
    over each row's first len columns; GQA/MQA without expanding K/V."""
    g = torch.Generator().manual_seed(kvh)
    n, h, length, d = 5, 4, 96, 8
    q, k, v = (torch.randn(n, x, y, d, generator=g) for x, y in ((h, 1), (kvh, length), (kvh, length)))
    lens = torch.tensor([1, 15, 16, 17, 96])
    outs = {}
    for kind in ("sdpa", "flex"):
        sl.CTX.mode, sl.CTX.kind, sl.CTX.lens, sl.CTX.kv_len = "decode", kind, lens, length
        sl.CTX.flex = sl.flex_block_mask(lens, length) if kind == "flex" else None
        try:
            outs[kind] = sl.attention(None, q, k, v, None, scaling=0.3)[0]
        finally:
            sl.CTX.mode = ""
    for r in range(n):
        kr = k[r].repeat_interleave(h // kvh, 0)[:, : lens[r]]
        vr = v[r].repeat_interleave(h // kvh, 0)[:, : lens[r]]
        want = torch.softmax(q[r] @ kr.transpose(-1, -2) * 0.3, -1) @ vr  # [h, 1, d]
        for kind, out in outs.items():
            torch.testing.assert_close(out[r, 0], want[:, 0], msg=f"{kind} row {r}")
    assert sl.columns_read([1, 15, 16, 17, 96], "flex", 96) == 16 + 16 + 16 + 32 + 96
    assert sl.columns_read([1, 15], "sdpa", 96) == 2 * 96


def test_capture_path_graphs_kept_for_the_run_and_forced_failure_falls_back(capsys):
    """With the capture path on (EagerGraphs: torch.cuda's capture API on CPU) the text equals the eager path's;
    a second task captures nothing new. A capture that fails at capture_end (its stream left current) falls back
    to the eager step with one line, the caller's stream restored, the same text."""
    model = _model("llama", seed=2)
    reqs = _reqs()
    want = _generate(_backend(model, 4, engine="eager"), reqs, GREEDY)
    b = _backend(model, 8)
    fast = b._fast if b.engine_name() == "fast" else None
    fast.gpu, fast.use_graphs = EagerGraphs(), True
    assert _generate(b, reqs, GREEDY) == want
    first = fast.stats["graph_captures"]
    assert first >= 1
    more = [GenerationRequest(key=("u", r.key[1], r.key[2]), prompt=r.prompt, seed=r.seed,
                              max_new_tokens=r.max_new_tokens) for r in reqs]
    _generate(b, more, GREEDY)
    assert fast.stats["graph_captures"] == first, "a second task captured again"
    for where in ("end", "enter"):
        b = _backend(model, 8)
        fast = b._fast if b.engine_name() == "fast" else None
        api = EagerGraphs(fail=where)
        caller = api.current_stream()
        fast.gpu, fast.use_graphs = api, True
        capsys.readouterr()
        assert _generate(b, reqs, GREEDY) == want
        err = capsys.readouterr().err
        assert err.count("CUDA graph capture failed") == 1, err
        assert api.current is caller, f"{where}: the capture stream is still current"
        assert not fast.use_graphs and "forced capture failure" in fast.stats["graph_error"]


def test_slots_capped_at_the_requests_and_out_of_memory_retries(capsys, monkeypatch):
    model = _model("llama", seed=4)
    reqs = _reqs(n_prompts=1, samples=5)
    b = _backend(model, 64)
    want = _generate(_backend(model, 4, engine="eager"), reqs, GREEDY)
    assert _generate(b, reqs, GREEDY) == want
    assert b._fast.stats["slots"] == 5
    # out of memory in the first prefill: one line, half the slots, the same text
    b = _backend(model, 64)
    fast = b._fast if b.engine_name() == "fast" else None
    real, calls = fast._prefill, []

    def failing(group):  # noqa: ANN001, ANN202
        calls.append(len(group))
        if len(calls) == 1:
            raise torch.OutOfMemoryError("forced")
        return real(group)

    monkeypatch.setattr(fast, "_prefill", failing)
    capsys.readouterr()
    assert _generate(b, reqs, GREEDY) == want
    assert capsys.readouterr().err.count("out of memory in the fast engine") == 1
    assert fast.slot_cap <= 2


def test_dynamic_rope_is_detected_and_goes_eager(capsys):
    model = _model("llama", rope_scaling={"rope_type": "dynamic", "factor": 2.0})
    from evalkit.backends import engine as eng

    assert "dynamic" in (eng.supported(model, None) or "")
    assert _backend(model, 4, engine="auto").engine_name() == "eager"
    assert "RoPE (dynamic)" in capsys.readouterr().err


def test_both_engines_stop_at_the_window_and_refuse_or_truncate_longer_prompts(capsys):
    """A window of (prompt + 9) positions: a sequence that fills the window ends there on both engines (recorded);
    a longer prompt is refused, or left-truncated when the request asks for it (recorded, one line)."""
    long_text = PROMPTS[3] * 2
    n = len(_backend(_model("llama"), 4, engine="eager").encode(long_text))
    w = n + 9
    model = _model("llama", seed=5, max_position_embeddings=w)
    eager, fast = _backend(model, 4, engine="eager"), _backend(model, 4)
    reqs = [GenerationRequest(key=("t", "w", 0), prompt=long_text, max_new_tokens=40)]
    got = {}
    for b in (eager, fast):
        b.generate(reqs, GREEDY, lambda r, g, b=b: got.__setitem__(b.engine_name(), g))
    assert got["fast"].text == got["eager"].text and got["fast"].n_tokens == w - n
    assert got["fast"].extra.get("stopped_at_window") == w == got["eager"].extra.get("stopped_at_window")
    too_long = PROMPTS[3] * 3
    for b in (eager, fast):
        with pytest.raises(UserError, match=f"window of {w}"):
            b.generate([GenerationRequest(key=("t", "x", 0), prompt=too_long)], GREEDY, lambda r, g: None)
    capsys.readouterr()
    cut = [GenerationRequest(key=("t", "x", 0), prompt=too_long, truncate="left", max_new_tokens=4)]
    for b in (eager, fast):
        b.generate(cut, GREEDY, lambda r, g, b=b: got.__setitem__(b.engine_name(), g))
    assert got["fast"].text == got["eager"].text
    assert got["fast"].extra["prompt_truncated_from"] == len(eager.encode(too_long))
    assert capsys.readouterr().err.count("left-truncated") == 2


def test_gqa_model_with_prompts_of_2_to_2000_tokens_in_one_batch():
    """8 query heads over 2 K/V heads; prompts of very different lengths share the batch (batched prefill,
    several chunks for the longest); greedy text == model.generate of each prompt alone."""
    import transformers
    from test_engine import _tokenizer

    cfg = transformers.LlamaConfig(vocab_size=_tokenizer()[1], bos_token_id=1, eos_token_id=2, pad_token_id=0,
                                   hidden_size=64, intermediate_size=64, num_hidden_layers=2, num_attention_heads=8,
                                   num_key_value_heads=2, max_position_embeddings=4096)
    torch.manual_seed(6)
    model = transformers.AutoModelForCausalLM.from_config(cfg).eval()
    eager = _backend(model, 1, engine="eager")
    body = "".join(PROMPTS) * 40
    long_text = eager.tok.decode(eager.encode(body)[1:2000])
    prompts = ["d", PROMPTS[0], PROMPTS[3] * 3, body[:1500], long_text]
    lengths = [len(eager.encode(p)) for p in prompts]
    assert lengths[0] <= 3 and 1950 <= max(lengths) <= 2010, lengths
    reqs = [GenerationRequest(key=("t", str(i), 0), prompt=p, max_new_tokens=6) for i, p in enumerate(prompts)]
    want = {}
    for r in reqs:
        x = eager.encode(r.prompt)
        out = model.generate(torch.tensor([x]), max_new_tokens=6, do_sample=False, pad_token_id=0, eos_token_id=2)
        new = out[0, len(x):].tolist()
        new = new[: new.index(2)] if 2 in new else new
        want[r.key] = (eager.decode_new(new), len(new))
    b = _backend(model, 8)
    b.engine_name()
    b._fast.chunk = 512  # the 2,000-token prompt in 4 chunks
    assert _generate(b, reqs, GREEDY) == want


def test_flex_decode_end_to_end_with_one_block_mask_per_bucket(monkeypatch):
    """FlexAttention decode (eager on CPU) through the engine with the capture path on: rows leave and refill,
    the batch bucket shrinks; one BlockMask per bucket, refreshed in place each step (a compiled step sees the
    same object); the text equals the eager path's."""
    monkeypatch.setenv("EVALKIT_DECODE_ATTENTION", "flex")
    model = _model("llama", seed=4)
    reqs = _reqs(3, 3)
    want = _generate(_backend(model, 4, engine="eager"), reqs, GREEDY)
    b = _backend(model, 4)
    assert b.engine_name() == "fast" and b._fast.kind == "flex"
    b._fast.gpu, b._fast.use_graphs = EagerGraphs(), True
    assert _generate(b, reqs, GREEDY) == want
    masks = b._fast._masks
    assert masks and all(m.kv_num_blocks.shape[0] == n for n, m in masks.items())
