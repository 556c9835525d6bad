"""The fast decode engine (evalkit/backends/engine.py) on tiny random models with the real 32k Code Llama vocabulary
(a small trained one where ../shared/tokenizers is missing)."""

from __future__ import annotations

import random

import pytest
from conftest import TOKENIZERS

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from evalkit.backends import engine as eng  # noqa: E402
from evalkit.backends.base import GenerationParams, GenerationRequest, sample_seed  # noqa: E402
from evalkit.backends.hf import HFBackend  # noqa: E402
from evalkit.errors import UserError  # noqa: E402

CODELLAMA = TOKENIZERS / "codellama-7b"
PROMPTS = [
    "def add(a, b):\n    \"\"\"Return the sum of a and b.\"\"\"\n",
    "import math\n\ndef area(r):\n",
    "def is_palindrome(s: str) -> bool:\n    ",
    "class Stack:\n    def __init__(self):\n        self.items = []\n\n    def push(self, x):\n",
    "def fib(n):\n    # the n-th Fibonacci number\n",
]
ARCHS = {
    "llama": ("LlamaConfig", dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                                  num_key_value_heads=2)),
    "qwen2": ("Qwen2Config", dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                                  num_key_value_heads=2)),
    "gpt2": ("GPT2Config", dict(n_embd=32, n_layer=2, n_head=4, n_positions=512)),
    "gpt_bigcode": ("GPTBigCodeConfig", dict(n_embd=32, n_layer=2, n_head=4, n_positions=512, multi_query=True)),
}


_TOK: list = []


def _tokenizer() -> tuple[str, int]:
    """(tokenizer dir, vocabulary size): the real Code Llama tokenizer (32,016 pieces) where ../shared has it,
    else a small SentencePiece-like one trained here (same special ids: pad 0, BOS 1, EOS 2), so a fresh clone
    runs these tests too; CI runs them with the real vocabulary."""
    if not _TOK:
        if CODELLAMA.is_dir():
            _TOK.append((str(CODELLAMA), 32016))
        else:
            import tempfile

            import tiny

            d = tempfile.mkdtemp(prefix="evalkit-engine-tok-")
            tok = tiny.train_tokenizer("metaspace")
            assert (tok.bos_token_id, tok.eos_token_id) == (1, 2)
            tok.save_pretrained(d)
            transformers.LlamaConfig(vocab_size=len(tok), bos_token_id=1, eos_token_id=2).save_pretrained(d)
            _TOK.append((d, len(tok)))
    return _TOK[0]


def _model(arch: str, seed: int = 0, **extra):  # noqa: ANN202
    cls, kw = ARCHS[arch]
    cfg = getattr(transformers, cls)(vocab_size=_tokenizer()[1], bos_token_id=1, eos_token_id=2, pad_token_id=0,
                                     **kw, **extra)
    torch.manual_seed(seed)
    return transformers.AutoModelForCausalLM.from_config(cfg).eval()


def _backend(model, batch_size, engine="fast") -> HFBackend:  # noqa: ANN001
    b = HFBackend(_tokenizer()[0], device="cpu", load_weights=False, batch_size=batch_size, engine=engine)
    b.attach(model)
    return b


def _generate(backend: HFBackend, reqs, params) -> dict:  # noqa: ANN001
    got: dict = {}
    backend.generate(reqs, params, lambda r, g: got.__setitem__(r.key, (g.text, g.n_tokens)))
    assert len(got) == len(reqs)
    return got


@pytest.mark.parametrize("arch", sorted(ARCHS))
def test_greedy_equals_model_generate(arch):
    """36 requests with their own token limits (2-7): rows leave at different steps and waiting ones refill
    their slots; every completion equals model.generate(do_sample=False) of that prompt alone."""
    model = _model(arch)
    reqs = [GenerationRequest(key=("t", str(i), j), prompt=p, seed=j, max_new_tokens=2 + (3 * i + j) % 6)
            for i, p in enumerate(PROMPTS[:4]) for j in range(9)]
    ref_backend = _backend(model, 1, engine="eager")
    full = {}
    for p in PROMPTS[:4]:
        ids = ref_backend.encode(p)
        out = model.generate(torch.tensor([ids]), max_new_tokens=7, do_sample=False, pad_token_id=0, eos_token_id=2)
        full[p] = out[0, len(ids):].tolist()
    want = {}
    for r in reqs:
        new = full[r.prompt][: r.max_new_tokens]
        new = new[: new.index(2)] if 2 in new else new
        want[r.key] = (ref_backend.decode_new(new), len(new))
    for bs in (1, 8, 32):
        backend = _backend(model, bs)
        assert backend.engine_name() == "fast"
        got = _generate(backend, reqs, GenerationParams(max_new_tokens=16))
        assert got == want, f"batch size {bs}"


def test_stop_sequences_and_end_tokens_cut_where_the_eager_path_does():
    """Stop strings are checked every few steps on the host; the cut is at the same token as the eager path's."""
    model = _model("llama", seed=3)
    reqs = [GenerationRequest(key=("t", str(i), j), prompt=p, seed=j, stop=stop)
            for i, p in enumerate(PROMPTS[:3]) for j, stop in enumerate([("\n",), ("e",), ("(", "ing"), ()])]
    params = GenerationParams(max_new_tokens=16)
    eager = _generate(_backend(model, 4, engine="eager"), reqs, params)
    fast_backend = _backend(model, 8)
    assert _generate(fast_backend, reqs, params) == eager
    assert any(n < 16 for _, n in eager.values()), "no stop string ever fired: the test would not test them"
    # a frequent token as an extra end token: detected on the device, the same cut as the eager path
    counts: dict[int, int] = {}
    for text, _ in eager.values():
        for t in fast_backend.tok.encode(text, add_special_tokens=False):
            counts[t] = counts.get(t, 0) + 1
    end = max(counts, key=counts.get)
    for b in (fast_backend, eager_b := _backend(model, 4, engine="eager")):
        b.eos_ids = {2, end}
    assert _generate(fast_backend, reqs, params) == _generate(eager_b, reqs, params)


def test_sampling_is_reproducible_and_mostly_batch_invariant():
    """Sampled text per sample for batch sizes 1, 8 and 32: reproducible run to run; across batch sizes the
    logits differ at rounding level with the batch shape, so a few completions may differ (README states the rate)."""
    model = _model("llama", seed=1)
    reqs = [GenerationRequest(key=("t", str(i), j), prompt=p, seed=sample_seed(0, "t", str(i), j))
            for i, p in enumerate(PROMPTS[:3]) for j in range(4)]
    params = GenerationParams(max_new_tokens=10, temperature=0.8, top_p=0.95)
    runs = {bs: _generate(_backend(model, bs), reqs, params) for bs in (1, 8, 32)}
    assert _generate(_backend(model, 8), reqs, params) == runs[8]
    for bs in (8, 32):
        differ = sum(runs[1][k] != runs[bs][k] for k in runs[1])
        assert differ <= 2, f"{differ} of {len(reqs)} sampled completions differ between batch sizes 1 and {bs}"
    # distinct samples of one prompt do differ (the per-sample streams are not all the same)
    assert len({runs[1][("t", "0", j)] for j in range(4)}) > 1


def test_counter_based_uniforms():
    """The on-device random numbers: 32-bit products without int64 overflow, values in [0, 1) that depend only
    on (key, step), uniform enough."""
    rnd = random.Random(5)
    xs = [rnd.randrange(1 << 32) for _ in range(1000)] + [0, (1 << 32) - 1]
    got = eng._mul32(torch.tensor(xs), 0x846CA68B).tolist()
    assert got == [(x * 0x846CA68B) % (1 << 32) for x in xs]
    seeds = [sample_seed(0, "humaneval", f"HumanEval/{i}", j) for i in range(50) for j in range(40)]
    lo = torch.tensor([s & 0xFFFFFFFF for s in seeds])
    hi = torch.tensor([s >> 32 for s in seeds])
    u = eng.uniform(lo, hi, torch.full((len(seeds),), 7))
    assert float(u.min()) >= 0 and float(u.max()) < 1
    assert abs(float(u.mean()) - 0.5) < 0.02 and abs(float((u < 0.1).float().mean()) - 0.1) < 0.02
    # one row alone, or another step: its value depends on its own key and step only
    assert float(eng.uniform(lo[5:6], hi[5:6], torch.tensor([7]))) == float(u[5])
    assert float(eng.uniform(lo[5:6], hi[5:6], torch.tensor([8]))) != float(u[5])


def test_sliding_window_models_fall_back_with_a_notice(capsys):
    model = _model("qwen2", use_sliding_window=True, sliding_window=8, max_window_layers=0)
    backend = _backend(model, 4, engine="auto")
    assert eng.supported(model, None) is not None
    assert backend.engine_name() == "eager"
    assert "eager generation" in capsys.readouterr().err
    with pytest.raises(UserError, match="--engine fast"):
        _backend(model, 4, engine="fast").engine_name()
