"""Sampling shared by both engines: temperature, top-p by a threshold search (no sort of the vocabulary),
inverse-CDF draws, and the fast engine's counter-based random numbers (integer tensor ops only: the same values on
any device and batch)."""

from __future__ import annotations

from typing import Any

from evalkit.backends.base import GenerationParams

_M32 = 0xFFFFFFFF
_TOP_P_STEPS = 31  # bisection steps over the bit patterns of positive float32 values (2**31 of them): exact


def _mul32(x: Any, c: int) -> Any:
    """(x * c) mod 2**32 for x in [0, 2**32) held in int64, without any int64 overflow."""
    return (x * (c & 0xFFFF) + (((x * (c >> 16)) & 0xFFFF) << 16)) & _M32


def _mix32(x: Any) -> Any:
    """A 32-bit integer hash (lowbias32, C. Wellons)."""
    x = x ^ (x >> 16)
    x = _mul32(x, 0x7FEB352D)
    x = x ^ (x >> 15)
    x = _mul32(x, 0x846CA68B)
    return x ^ (x >> 16)


def uniform(key_lo: Any, key_hi: Any, step: Any) -> Any:
    """One float32 in [0, 1) per row from (the row's 64-bit key, the step): 24 random bits."""
    h = _mix32(key_lo ^ _mix32((key_hi ^ _mix32((step & _M32) ^ 0x9E3779B9)) & _M32))
    return (h >> 8).float() / float(1 << 24)


def top_p_threshold(probs: Any, top_p: float) -> Any:
    """Per row, the smallest probability kept by Meta's top-p rule (keep the smallest prefix of the tokens sorted
    by probability whose mass before each token is at most top_p), found without sorting: the kept tokens are
    those with p >= t where t is the least probability value whose mass strictly above it is <= top_p. The mass
    above a value only falls as the value grows, so t is found by bisection over the bit patterns of float32
    (31 masked sums over the vocabulary, a fixed count: graph-capturable)."""
    import torch

    p = probs.float()
    lo = torch.zeros(p.shape[0], dtype=torch.int32, device=p.device)  # bits of 0.0: mass above may exceed top_p
    hi = p.max(dim=-1).values.view(torch.int32)  # mass above the max is 0 <= top_p
    for _ in range(_TOP_P_STEPS):
        mid = lo + (hi - lo) // 2
        above = torch.where(p > mid.view(torch.float32)[:, None], p, 0.0).sum(-1, dtype=torch.float64)
        ok = above <= top_p
        hi = torch.where(ok, mid, hi)
        lo = torch.where(ok, lo, mid)
    # hi is the least bit pattern whose mass above is <= top_p; the least kept value is the first p >= it
    t = hi.view(torch.float32)
    return torch.where(p >= t[:, None], p, float("inf")).min(dim=-1).values


def sampling_probs(logits: Any, params: GenerationParams) -> Any:
    """Probabilities after temperature and top-p, in vocabulary order (dropped tokens: 0); shared by both
    engines. Equal to the sort-based rule (tests/test_engine_sampling.py) except where a token's mass-before
    lies within float rounding of top_p."""
    import torch

    probs = torch.softmax(logits.float() / params.temperature, dim=-1)
    if params.top_p < 1.0:
        probs = probs.masked_fill(probs < top_p_threshold(probs, params.top_p)[:, None], 0.0)
    return probs


def sampling_probs_sorted(logits: Any, params: GenerationParams) -> Any:
    """The reference rule with a full sort (kept for the equality test)."""
    import torch

    probs = torch.softmax(logits.float() / params.temperature, dim=-1)
    if params.top_p < 1.0:
        sp, si = probs.sort(dim=-1, descending=True)
        drop_sorted = (sp.double().cumsum(dim=-1) - sp.double()) > params.top_p
        drop = torch.zeros_like(drop_sorted).scatter(-1, si, drop_sorted)
        probs = probs.masked_fill(drop, 0.0)
    return probs


def pick(logits: Any, params: GenerationParams, u: Any) -> Any:
    """Next tokens: argmax when greedy, else inverse-CDF sampling in vocabulary order after temperature and
    top-p, exactly the eager path's ``_pick`` with the uniform draws ``u`` given."""
    import torch

    if params.greedy:
        return logits.argmax(dim=-1)
    probs = sampling_probs(logits, params)
    cdf = probs.cumsum(dim=-1)
    total = cdf[:, -1]
    # kept below the total mass: a product that rounds up to it would land past the last token of positive mass
    target = torch.minimum(u.to(cdf.dtype) * total, torch.nextafter(total, torch.zeros_like(total)))
    idx = torch.searchsorted(cdf, target.unsqueeze(-1), right=True).squeeze(-1)
    return idx.clamp_(max=probs.shape[-1] - 1)
