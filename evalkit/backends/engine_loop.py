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
    """Bursts of ``check_every`` steps, double-buffered: after launching burst s the host takes an asynchronous
    snapshot of the rows' counts, flags and new tokens (one device-to-host copy into pinned memory), launches
    burst s+1, and only then reads snapshot s: the stop-string checks run while the device works. A row's end
    is seen one burst later (its extra tokens are cut, as before); rows admitted after a snapshot was taken are
    not in it. The host keeps a bound of each row's position (no device read to size the length bucket)."""
    torch, b, dev = eng.torch, eng.b, eng.dev
    # samples of one prompt next to each other (one prefill each), in the order given otherwise
    first: dict[tuple[int, ...], int] = {}
    for i, (ids, _) in enumerate(encoded):
        first.setdefault(tuple(ids), i)
    encoded = sorted(encoded, key=lambda x: first[tuple(x[0])])
    eng.stats["requests"] += len(encoded)
    max_len, ce = eng.max_len, eng.check_every
    cap = eng.slots  # the allocation's (kept for the run): the same buckets, the same graphs, for every task
    buckets = sorted({1 << i for i in range(cap.bit_length()) if 1 << i <= cap} | {cap})
    len_step = 256 if eng.cuda else 64
    token_budget = eng.prefill_tokens
    refill_at = max(1, slots // 8)

    rows: list[dict[str, Any] | None] = [None] * cap  # host view of each slot
    waiting = list(reversed(encoded))  # pop() takes the next in order
    launched = 0  # bursts launched so far (a snapshot is named by its burst)

    def bound(row: dict[str, Any], s: int) -> int:
        """At most this many tokens after burst s (the device stops a row at its limit)."""
        return min(row["limit"], row["known"] + (s - row["known_at"]) * ce)

    def admit(free: list[int]) -> None:
        take = []
        while waiting and len(take) < len(free):
            take.append(waiting.pop())
        if not take:
            return
        by_prompt: dict[tuple[int, ...], list[int]] = {}
        for slot, (ids, req) in zip(free, take):
            by_prompt.setdefault(tuple(ids), []).append(slot)
            lim = req.max_new_tokens or params.max_new_tokens
            rows[slot] = {"ids": ids, "req": req, "slot": slot, "checked": 0, "toks": [], "born": launched, "known": 1,
                          "known_at": launched, "limit": min(lim, max_len - len(ids)),
                          "stops": list(req.stop) + (["\n"] if req.single_line else [])}
        logits_of: dict[int, Any] = {}
        for group in _groups([(list(k), v) for k, v in by_prompt.items()], token_budget, slots):
            lg = eng._prefill(group)
            for i, (_, ss) in enumerate(group):
                for s in ss:
                    logits_of[s] = lg[i]
        slot_ids = [s for s, _ in zip(free, take)]
        seeds = [req.seed & ((1 << 64) - 1) for _, req in take]
        idx = eng.h2d(slot_ids)
        lo, hi = eng.h2d([s & _M32 for s in seeds]), eng.h2d([s >> 32 for s in seeds])
        zero = torch.zeros(len(take), dtype=torch.long, device=dev)
        t0 = pick(torch.stack([logits_of[s] for s in slot_ids]), params, uniform(lo, hi, zero))
        lim = eng.h2d([req.max_new_tokens or params.max_new_tokens for _, req in take])
        pos = eng.h2d([len(ids) for ids, _ in take])
        eng.klo[idx], eng.khi[idx], eng.limit[idx] = lo, hi, lim
        eng.tok[idx], eng.pos[idx] = t0, pos
        eng.count[idx] = 1
        eng.out[idx, 0] = t0
        eng.done[idx] = eng.end_table[t0] | (lim <= 1) | (pos + 1 >= max_len)

    def snapshot(n: int) -> dict[str, Any]:
        """Counts, done flags and the tokens the host has not seen of the first n slots after burst ``launched``,
        copied asynchronously (CUDA: into pinned memory, an event to wait on)."""
        seen = [(i, r) for i, r in enumerate(rows[:n]) if r is not None and r["born"] < launched]
        lo = min((len(r["toks"]) for _, r in seen), default=0)
        hi = max((bound(r, launched) for _, r in seen), default=0)
        data = torch.cat([eng.count[:n, None], eng.done[:n, None].long(), eng.out[:n, lo:max(lo, hi)]], 1)
        event = None
        if eng.cuda:
            host = torch.empty(data.shape, dtype=data.dtype, pin_memory=True)
            host.copy_(data, non_blocking=True)
            data, event = host, torch.cuda.Event()
            event.record()
        return {"id": launched, "rows": seen, "lo": lo, "data": data, "event": event}

    def look(snap: dict[str, Any]) -> list[int]:
        """The host's check of one snapshot: stop strings in the new text, ends; the slots freed. The snapshot
        names its rows (slots may have been compacted since: a row's data is at its slot of then)."""
        overlapped = snap["id"] < launched  # a later burst is queued behind it: the device is not idle
        eng.stats["host_syncs"] += 1
        eng.stats["host_stalls"] += 0 if overlapped else 1
        if snap["event"] is not None:
            snap["event"].synchronize()
        data, lo, freed = snap["data"].tolist(), snap["lo"], []
        for i, row in snap["rows"]:
            if row["slot"] is None:
                continue  # finished at an earlier snapshot
            c, done = data[i][0], bool(data[i][1])
            new = row["toks"][:lo] + data[i][2: 2 + c - lo]
            row["toks"], row["known"], row["known_at"] = new, c, snap["id"]
            end = eng._stop_at(row, new, c) if row["stops"] else None
            if end is None and done:
                end = c
            if end is None:
                row["checked"] = c
                continue
            emit(row["req"], b.finished(row["ids"], row["req"], new[:end], end_ids))
            rows[row["slot"]] = None
            freed.append(row["slot"])
            row["slot"] = None
        if freed:
            gone = eng.h2d(freed)
            eng.done[gone], eng.pos[gone] = True, 0
        return freed

    def compact(n_used: int) -> int:
        """Move the occupied slots to the front (once per halving of the bucket); returns how many."""
        used = [i for i in range(n_used) if rows[i] is not None]
        moves = [(src, dst) for dst, src in enumerate(used) if src != dst]
        if moves:
            src, dst = eng.h2d([s for s, _ in moves]), eng.h2d([d for _, d in moves])
            width = min(max_len, max(len(rows[s]["ids"]) + bound(rows[s], launched) for s, _ in moves) + 1)
            for t in (*eng.K, *eng.V):
                t[dst, :, :width] = t[src, :, :width]
            for t in (eng.tok, eng.pos, eng.count, eng.done, eng.limit, eng.klo, eng.khi, eng.out):
                t[dst] = t[src]
            for s, d in moves:
                rows[d], rows[s] = rows[s], None
                rows[d]["slot"] = d
            eng.stats["compactions"] = eng.stats.get("compactions", 0) + 1
            eng.done[len(used): n_used], eng.pos[len(used): n_used] = True, 0  # vacated: idle rows
        return len(used)

    admit(list(range(slots)))
    n_used = sum(r is not None for r in rows)
    free_slots: list[int] = []
    pending: dict[str, Any] | None = None
    while n_used:
        if not waiting:
            occupied = sum(r is not None for r in rows[:n_used])
            if occupied and occupied <= n_used // 2:  # the snapshot in flight names its rows: no wait
                n_used = compact(n_used)
                free_slots = []
        n = next(x for x in buckets if x >= n_used)
        live = [r for r in rows[:n] if r is not None]
        need = max(len(r["ids"]) + bound(r, launched + 1) for r in live)  # columns read in the next burst
        kv_len = min(max_len, -(-need // len_step) * len_step)
        step = eng._runner(n, kv_len)
        for _ in range(ce):
            if eng.count_columns:
                _count(eng, n, kv_len)
            step()
        eng.stats["decode_steps"] += ce
        launched += 1
        snap = snapshot(n)
        if pending is not None:
            free_slots += look(pending)  # burst ``launched`` runs meanwhile
        pending = snap
        running = sum(r is not None for r in rows)
        if not running and not waiting:
            break  # the burst in flight only advanced finished rows
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
