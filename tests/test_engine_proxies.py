"""The CPU proxies of issue 22 (evalkit/backends/engine_proxies.py; bench/generation.py --proxies prints them at
full size), on a scaled-down workload: attention columns read per real column <= 1.10 on the realistic schedule,
prefill forward calls per request <= 1/8 on a greedy HumanEval-like workload, graph captures per run that do
not grow with the number of tasks, slots capped at the requests, host reads that leave the device idle only at the
end of a task (double-buffered outputs)."""

from __future__ import annotations

import pytest
from test_engine import _backend, _model

torch = pytest.importorskip("torch")

from evalkit.backends import engine_proxies as px  # noqa: E402
from evalkit.backends.base import GenerationParams  # noqa: E402
from evalkit.registry import get_task  # noqa: E402

GREEDY = GenerationParams(max_new_tokens=64)


@pytest.fixture(scope="module")
def make():
    model = _model("llama", seed=8)

    def backend():  # noqa: ANN202
        b = _backend(model, 32)
        b.eos_ids = set()  # random weights: each sequence stops at its drawn length or a stop string
        return b

    return backend


def test_proxies(make):
    prompts = [p.prompt for p in get_task("humaneval").problems()[:48]]
    g = torch.Generator().manual_seed(1)
    lengths = torch.randint(20, 61, (64,), generator=g).tolist()
    s = px.run_workload(make, [px.requests(prompts[:4], 16, lengths)], GREEDY, slots=32)
    f = px.figures(s, "flex")
    assert f["attention columns read per real column"] <= 1.10, f
    assert f["attention columns read per real column (SDPA fallback)"] > f["attention columns read per real column"]
    assert f["slots allocated per request"] <= 0.5, f
    # double-buffered outputs: one read per burst of check_every (8) steps, and the device idles only at the end
    # of the task (before, every read stalled it: 12.5 per 100 steps)
    assert f["host synchronisations per 100 decode steps"] == pytest.approx(100 / 8, abs=0.8), f
    assert s["host_stalls"] == 1 and f["host synchronisations per 100 decode steps, device idle"] < 1, f
    assert len(s["results"]) == 64
    tasks = [px.requests(prompts[:2], 4, lengths[:8], copy=c) for c in range(3)]
    one, three = (px.run_workload(make, tasks[:k], GREEDY, slots=8) for k in (1, 3))
    assert one["graph_captures"] >= 1 and three["graph_captures"] == one["graph_captures"]
    assert len(three["results"]) == 24
    greedy = px.run_workload(make, [px.requests(prompts, 1, lengths[:48])], GREEDY, slots=32)
    assert len(greedy["results"]) == 48
    assert px.figures(greedy, "flex")["prefill forward calls per request"] <= 1 / 8, greedy["prefill_calls"]


def test_greedy_humaneval_164_prompts_batched_prefill_equals_generate():
    """Every HumanEval prompt once, greedy, through the fast engine with batched prefill (groups of prompts of
    different lengths in one forward, slots refilled): each completion equals model.generate of its prompt alone."""
    from evalkit.backends.base import GenerationRequest

    model = _model("llama", seed=8)
    b = _backend(model, 32)
    prompts = [p.prompt for p in get_task("humaneval").problems()]
    assert len(prompts) == 164
    reqs = [GenerationRequest(key=("humaneval", str(i), 0), prompt=p, seed=0, max_new_tokens=6)
            for i, p in enumerate(prompts)]
    got: dict = {}
    b.generate(reqs, GenerationParams(max_new_tokens=6), lambda r, g: got.__setitem__(r.key, (g.text, g.n_tokens)))
    assert len(got) == 164
    assert b.engine_name() == "fast"
    for r in reqs:
        ids = b.encode(r.prompt)
        out = model.generate(torch.tensor([ids]), max_new_tokens=6, do_sample=False, pad_token_id=0, eos_token_id=2)
        new = out[0, len(ids):].tolist()
        new = new[: new.index(2)] if 2 in new else new
        assert got[r.key] == (b.decode_new(new), len(new)), r.key
