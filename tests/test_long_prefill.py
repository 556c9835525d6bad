"""Long prompts on both engines: a tiny Llama with rope_theta 1e6 and a 16k window runs a ~8k-token prompt end to
end through the fast engine (batched, chunked prefill into its slots) and the eager path (chunked prefill), with
equal greedy output."""

from __future__ import annotations

import pytest
from test_engine import PROMPTS, _backend, _generate, _model

torch = pytest.importorskip("torch")

from evalkit.backends.base import GenerationParams, GenerationRequest  # noqa: E402


def test_an_8k_token_prompt_runs_on_both_engines_with_equal_greedy_output(monkeypatch):
    model = _model("llama", seed=7, rope_theta=1e6, max_position_embeddings=16384)
    assert model.config.rope_parameters["rope_theta"] == 1e6  # read from the config by the model itself
    eager = _backend(model, 2, engine="eager")
    text = "".join(PROMPTS) * 200
    ids = eager.encode(text)[:8000]
    prompt = eager.tok.decode(ids[1:])
    n = len(eager.encode(prompt))
    assert 7900 <= n <= 8100, n
    reqs = [GenerationRequest(key=("t", "long", 0), prompt=prompt, max_new_tokens=5),
            GenerationRequest(key=("t", "short", 0), prompt=PROMPTS[0], max_new_tokens=5)]
    params = GenerationParams(max_new_tokens=5)
    monkeypatch.setenv("EVALKIT_PREFILL_CHUNK", "2048")  # the eager path: 4 chunks
    want = _generate(eager, reqs, params)
    fast = _backend(model, 4)
    assert fast.engine_name() == "fast"
    got = _generate(fast, reqs, params)
    assert got == want
    assert fast._fast.stats["prefill_calls"] >= 4  # the 8k prompt went through in chunks
