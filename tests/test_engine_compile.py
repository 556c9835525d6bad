"""The fused decode step (evalkit/backends/engine_compile.py): ``torch.compile`` of the fast engine's step
(inductor's C++ backend on CPU: needs g++) gives the greedy tokens of ``model.generate``; a compile that fails goes
on with the eager step after one line."""

from __future__ import annotations

import shutil

import pytest
from test_engine import PROMPTS, _backend, _generate, _model

torch = pytest.importorskip("torch")

from evalkit.backends.base import GenerationParams, GenerationRequest  # noqa: E402

PARAMS = GenerationParams(max_new_tokens=10)


def _requests() -> list[GenerationRequest]:
    return [GenerationRequest(key=("t", str(i), 0), prompt=p, max_new_tokens=10) for i, p in enumerate(PROMPTS[:2])]


def _want(model, reqs) -> dict:  # noqa: ANN001
    """model.generate(do_sample=False) of each prompt alone, cut at EOS, as the backend reports it."""
    ref = _backend(model, 1, engine="eager")
    want = {}
    for r in reqs:
        ids = ref.encode(r.prompt)
        new = model.generate(torch.tensor([ids]), max_new_tokens=10, do_sample=False, pad_token_id=0,
                             eos_token_id=2)[0, len(ids):].tolist()
        new = new[: new.index(2)] if 2 in new else new
        want[r.key] = (ref.decode_new(new), len(new))
    return want


def _inductor_missing() -> str | None:
    if shutil.which("g++") is None and shutil.which("c++") is None:
        return "inductor on CPU needs a C++ compiler (install g++)"
    try:
        import torch._inductor.config  # noqa: F401
    except Exception as e:  # noqa: BLE001
        return f"torch's inductor is unavailable ({type(e).__name__}: {e})"
    return None


@pytest.mark.slow
def test_compiled_step_gives_the_greedy_tokens_of_generate(monkeypatch):
    """One batch bucket and one length bucket: one compile (~30-60 s on a busy 2-core machine)."""
    reason = _inductor_missing()
    if reason:
        pytest.skip(reason)
    import torch._inductor.config as ic

    monkeypatch.setattr(ic.cpp, "vec_isa_ok", False)  # scalar C++ kernels: about half the compile time
    monkeypatch.setattr(ic, "compile_threads", 1)  # no pool of compile workers to start on a small machine
    model = _model("llama", seed=3)
    reqs = _requests()
    backend = _backend(model, 2)
    backend.compile_step = "on"
    assert backend.engine_name() == "fast" and backend._fast.compile_step
    got = _generate(backend, reqs, PARAMS)
    stats = backend._fast.stats
    assert stats.get("compiled_step") is True and stats["compiles"] >= 1, stats
    assert "compile_error" not in stats
    assert got == _want(model, reqs)


def test_a_failed_compile_goes_on_with_the_eager_step(monkeypatch, capsys):
    monkeypatch.setenv("EVALKIT_COMPILE_STEP", "on")
    monkeypatch.setenv("EVALKIT_COMPILE_MODE", "no-such-mode")  # torch.compile refuses it: a real failure
    model = _model("llama", seed=3)
    reqs = _requests()
    backend = _backend(model, 2)
    got = _generate(backend, reqs, PARAMS)
    err = capsys.readouterr().err
    assert err.count("torch.compile of the decode step failed") == 1, err
    assert backend._fast.stats["compiled_step"] is False and "no-such-mode" in backend._fast.stats["compile_error"]
    assert got == _want(model, reqs)


def test_the_setting_is_checked(monkeypatch):
    from evalkit.backends.engine_compile import wanted
    from evalkit.errors import UserError

    class B:
        compile_step = "auto"

    assert wanted(B(), cuda=True) and not wanted(B(), cuda=False)
    monkeypatch.setenv("EVALKIT_COMPILE_STEP", "on")
    assert wanted(B(), cuda=False)
    B.compile_step = "off"
    assert not wanted(B(), cuda=True)
    B.compile_step = "sometimes"
    with pytest.raises(UserError, match="sometimes"):
        wanted(B(), cuda=False)
