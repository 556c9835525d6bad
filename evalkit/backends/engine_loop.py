"""The fast engine's host loop (evalkit/backends/engine.py): admissions with batched prefill, decode steps in
bursts of ``check_every``, one host look per burst (stop strings, finished rows), refill in groups."""

from __future__ import annotations

from typing import Any

from evalkit.backends import slots as sl
from evalkit.backends.base import GenerationParams, GenerationRequest, OnResult
from evalkit.backends.sampling import _M32, pick, uniform


def _groups(items: list[tuple[list[int], list[int]]], budget: int, rows: int) -> list[list[tuple[list[int], list[int]]]]:
    """Prompts sorted by length, packed into prefill calls of at most ``budget`` padded tokens and ``rows`` rows."""
    items = sorted(items, key=lambda x: len(x[0]))
    out: list[list[tuple[list[int], list[int]]]] = []
    for it in items:
        if out and len(out[-1]) < rows and (len(out[-1]) + 1) * len(it[0]) <= budget:
            out[-1].append(it)
        else:
            out.append([it])
    return out


def run(eng: Any, encoded: list[tuple[list[int], GenerationRequest]], params: GenerationParams, end_ids: set[int],
        emit: OnResult, slots: int) -> None:
    torch, b, dev = eng.torch, eng.b, eng.dev
    # samples of one prompt next to each other (one prefill each), in the order given otherwise
    first: dict[tuple[int, ...], int] = {}
    for i, (ids, _) in enumerate(encoded):
        first.setdefault(tuple(ids), i)
    encoded = sorted(encoded, key=lambda x: first[tuple(x[0])])
    eng.stats["requests"] += len(encoded)
    max_len = eng.max_len
    cap = eng.slots  # the allocation's (kept for the run): the same buckets, the same graphs, for every task
    buckets = sorted({1 << i for i in range(cap.bit_length()) if 1 << i <= cap} | {cap})
    len_step = 256 if eng.cuda else 64
    token_budget = eng.prefill_tokens
    refill_at = max(1, slots // 8)

    rows: list[dict[str, Any] | None] = [None] * cap  # host view of each slot
    waiting = list(reversed(encoded))  # pop() takes the next in order

    def admit(free: list[int]) -> None:
        take = []
        while waiting and len(take) < len(free):
            take.append(waiting.pop())
        if not take:
            return
        by_prompt: dict[tuple[int, ...], list[int]] = {}
        for slot, (ids, req) in zip(free, take):
            by_prompt.setdefault(tuple(ids), []).append(slot)
            rows[slot] = {"ids": ids, "req": req, "checked": 0,
                          "stops": list(req.stop) + (["\n"] if req.single_line else [])}
        logits_of: dict[int, Any] = {}
        for group in _groups([(list(k), v) for k, v in by_prompt.items()], token_budget, slots):
            lg = eng._prefill(group)
            for i, (_, ss) in enumerate(group):
                for s in ss:
                    logits_of[s] = lg[i]
        slot_ids = [s for s, _ in zip(free, take)]
        seeds = [req.seed & ((1 << 64) - 1) for _, req in take]
        idx = torch.tensor(slot_ids, device=dev)
        lo = torch.tensor([s & _M32 for s in seeds], device=dev)
        hi = torch.tensor([s >> 32 for s in seeds], device=dev)
        zero = torch.zeros(len(take), dtype=torch.long, device=dev)
        t0 = pick(torch.stack([logits_of[s] for s in slot_ids]), params, uniform(lo, hi, zero))
        lim = torch.tensor([req.max_new_tokens or params.max_new_tokens for _, req in take], device=dev)
        pos = torch.tensor([len(ids) for ids, _ in take], device=dev)
        eng.klo[idx], eng.khi[idx], eng.limit[idx] = lo, hi, lim
        eng.tok[idx], eng.pos[idx] = t0, pos
        eng.count[idx] = 1
        eng.out[idx, 0] = t0
        eng.done[idx] = eng.end_table[t0] | (lim <= 1) | (pos + 1 >= max_len)

    def compact(n_used: int) -> int:
        """Move the occupied slots to the front (once per halving of the bucket); returns how many."""
        used = [i for i in range(n_used) if rows[i] is not None]
        moves = [(src, dst) for dst, src in enumerate(used) if src != dst]
        if moves:
            src = torch.tensor([s for s, _ in moves], device=dev)
            dst = torch.tensor([d for _, d in moves], device=dev)
            width = int(eng.pos[:n_used].max()) + 1
            for t in (*eng.K, *eng.V):
                t[dst, :, :width] = t[src, :, :width]
            for t in (eng.tok, eng.pos, eng.count, eng.done, eng.limit, eng.klo, eng.khi, eng.out):
                t[dst] = t[src]
            for s, d in moves:
                rows[d], rows[s] = rows[s], None
            eng.done[len(used): n_used], eng.pos[len(used): n_used] = True, 0  # vacated: idle rows
        return len(used)

    admit(list(range(slots)))
    n_used = sum(r is not None for r in rows)
    free_slots: list[int] = []
    while n_used:
        if not waiting:
            occupied = sum(r is not None for r in rows[:n_used])
            if occupied and occupied <= n_used // 2:
                n_used = compact(n_used)
                free_slots = []
        n = next(x for x in buckets if x >= n_used)
        pos_max = int(eng.pos[:n].max()) + eng.check_every
        kv_len = min(max_len, -(-(pos_max + 1) // len_step) * len_step)
        step = eng._runner(n, kv_len)
        for _ in range(eng.check_every):
            if eng.count_columns:
                _count(eng, n, kv_len)
            step()
        eng.stats["decode_steps"] += eng.check_every
        # the host looks: one transfer of the counts, flags and tokens
        eng.stats["host_syncs"] += 1
        counts = eng.count[:n].tolist()
        done = eng.done[:n].tolist()
        width = max(counts) if counts else 0
        toks = eng.out[:n, :width].tolist()
        freed = []
        for slot in range(n):
            row = rows[slot]
            if row is None:
                continue
            c = counts[slot]
            new = toks[slot][:c]
            end = eng._stop_at(row, new, c) if row["stops"] else None
            if end is None and done[slot]:
                end = c
            if end is None:
                row["checked"] = c
                continue
            emit(row["req"], b.finished(row["ids"], row["req"], new[:end], end_ids))
            rows[slot] = None
            freed.append(slot)
        if freed:
            gone = torch.tensor(freed, device=dev)
            eng.done[gone], eng.pos[gone] = True, 0
            free_slots += freed
        running = sum(r is not None for r in rows)
        # refill in groups: fewer, larger prefill calls (an eighth of the slots, all that wait, or an idle device)
        if waiting and free_slots and (len(free_slots) >= min(refill_at, len(waiting)) or not running):
            admit(sorted(free_slots))
            free_slots = [s for s in free_slots if rows[s] is None]
        n_used = max((i + 1 for i in range(cap) if rows[i] is not None), default=0)


def _count(eng: Any, n: int, kv_len: int) -> None:
    """The proxy of issue 22: key/value columns each decode attention kernel would read in this step, and the real
    ones (live rows: position + 1)."""
    pos, done = eng.pos[:n].tolist(), eng.done[:n].tolist()
    lens = [1 if d else p + 1 for p, d in zip(pos, done)]
    eng.stats["cols_real"] += sum(p + 1 for p, d in zip(pos, done) if not d)
    eng.stats["cols_flex"] += sl.columns_read(lens, "flex", kv_len)
    eng.stats["cols_sdpa"] += sl.columns_read(lens, "sdpa", kv_len)
