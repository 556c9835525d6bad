"""The fast decode engine: a preallocated KV cache of fixed slots, a static-shape decode step, on-device sampling.

How it works (``FastEngine.generate``):
  * the KV cache is one preallocated tensor per layer, ``slots x max_len`` (``--batch-size auto`` sizes the slots
    from free device memory and says what it picked). Each slot holds one sequence at its own position; a sequence
    that finishes frees its slot at once and a waiting request is prefilled into it: nothing else is copied.
  * a distinct prompt is prefilled once (batch 1, the model's own cache) and its keys/values copied into the slots
    of all its samples;
  * the decode step has static shapes: it writes each row's new key/value at that row's position (``SlotCache``, a
    ``transformers`` Cache whose layers scatter per row) and attends through a 4D mask built from the positions.
    On CUDA each (batch bucket, length bucket) step is captured once as a CUDA graph; the capture cost is reported;
  * sampling (temperature, top-p: the same algorithm as the eager path's ``_pick``) runs on the device with a
    counter-based random stream per sample: a hash of the sample's seed (from seed, task, task_id, sample_idx) and
    the step, computed with integer tensor ops, so a sample's draws do not depend on its batch;
  * EOS / end tokens and the per-request token limit are detected on the device; the host looks every ``check_every``
    steps: it reads the new tokens once, checks stop strings only in the new text, and cuts a finished row at the
    exact token where eager generation would have stopped.

Models whose cache layout does not fit (sliding-window or hybrid/recurrent layers, remote code, multi-device
``--device-map``, flash attention, encoder-decoder) use the eager path; ``supported`` says why.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from typing import Any

from evalkit.backends.base import GenerationParams, GenerationRequest, OnResult
from evalkit.task import FimPrompt

_M32 = 0xFFFFFFFF
_STOP_WINDOW = 24  # the eager path's stop rule: a stop sequence in the text of the last 24 new tokens


# ------------------------------------------------------------------------------------------------
# counter-based random numbers (integer tensor ops only: the same values on any device and batch)
# ------------------------------------------------------------------------------------------------
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


def sampling_probs(logits: Any, params: GenerationParams) -> Any:
    """Probabilities after temperature and top-p (Meta's rule: keep the smallest prefix of the sorted tokens whose
    mass before each token is at most top_p), in vocabulary order; shared by both engines."""
    import torch

    probs = torch.softmax(logits.float() / params.temperature, dim=-1)
    if params.top_p < 1.0:
        sp, si = probs.sort(dim=-1, descending=True)
        drop_sorted = (sp.cumsum(dim=-1) - sp) > params.top_p
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


# ------------------------------------------------------------------------------------------------
# the slot cache: a transformers Cache over preallocated per-layer tensors, written at per-row positions
# ------------------------------------------------------------------------------------------------
def _cache_classes() -> tuple[type, type]:
    from transformers.cache_utils import Cache, CacheLayerMixin

    class SlotLayer(CacheLayerMixin):
        is_sliding = False
        is_compileable = True

        def __init__(self, keys: Any, values: Any, pos: Any) -> None:
            super().__init__()
            self.keys, self.values, self.pos = keys, values, pos  # views [b, heads, kv_len, head_dim]; pos [b]
            self.is_initialized = True
            self.device, self.dtype = keys.device, keys.dtype

        def lazy_initialization(self, key_states: Any, value_states: Any) -> None:  # preallocated
            pass

        def update(self, key_states: Any, value_states: Any, *args: Any, **kwargs: Any) -> tuple[Any, Any]:
            if key_states.shape[-2] != 1:
                raise RuntimeError("the slot cache takes one new token per row")
            b, h, _, d = key_states.shape
            index = self.pos.view(b, 1, 1, 1).expand(b, h, 1, d)
            self.keys.scatter_(2, index, key_states.to(self.keys.dtype))
            self.values.scatter_(2, index, value_states.to(self.values.dtype))
            return self.keys, self.values

        def get_mask_sizes(self, query_length: int, *args: Any) -> tuple[int, int]:
            return self.keys.shape[-2], 0

        def get_seq_length(self, *args: Any) -> int:
            return 0  # positions are per row (position_ids); nothing may derive them from the cache

        def get_max_length(self) -> int:
            return self.keys.shape[-2]

    class SlotCache(Cache):
        def __init__(self, layers: list) -> None:
            try:
                super().__init__(layers=layers)
            except TypeError:  # other Cache signatures: the attributes the models read
                self.layers, self.layer_class_to_replicate, self.offloading = layers, None, False

        def get_seq_length(self, layer_idx: int = 0) -> int:
            return 0

        def get_mask_sizes(self, query_length: int, layer_idx: int = 0, *args: Any) -> tuple[int, int]:
            return self.layers[0].keys.shape[-2], 0

    return SlotLayer, SlotCache


# ------------------------------------------------------------------------------------------------
# which models the engine takes
# ------------------------------------------------------------------------------------------------
def supported(model: Any, device_map: Any) -> str | None:
    """None when the fast engine fits the model; else the reason it does not (one phrase)."""
    cfg = getattr(model, "config", None)
    if cfg is None:
        return "the model has no config"
    if device_map:
        return "the model is spread over devices (--device-map)"
    if not type(model).__module__.startswith("transformers."):
        return "the model runs its own (remote) code"
    if getattr(cfg, "is_encoder_decoder", False):
        return "encoder-decoder models are not supported"
    attn = getattr(cfg, "_attn_implementation", None) or "eager"
    if attn not in ("sdpa", "eager"):
        return f"attention implementation {attn!r} takes no 4D mask"
    types = set(getattr(cfg, "layer_types", None) or [])
    if types - {"full_attention"}:
        return f"layer types {sorted(types - {'full_attention'})} are not plain full attention"
    if getattr(cfg, "sliding_window", None) and getattr(cfg, "use_sliding_window", True):
        return "sliding-window attention"
    try:
        from transformers import DynamicCache
        from transformers.cache_utils import DynamicLayer

        layers = getattr(DynamicCache(config=cfg), "layers", None)
        if layers and any(type(layer) is not DynamicLayer for layer in layers):
            return "its cache has other layer types than plain key/value layers"
    except Exception:  # older transformers: the probe decides
        pass
    return None


# ------------------------------------------------------------------------------------------------
# the engine
# ------------------------------------------------------------------------------------------------
class FastEngine:
    def __init__(self, backend: Any, check_every: int | None = None) -> None:
        import torch

        self.b = backend
        self.torch = torch
        self.model = backend.model
        self.dev = torch.device(backend.model.device if backend.device_map else backend.device)
        self.cuda = self.dev.type == "cuda"
        self.check_every = check_every or (8 if self.cuda else 2)
        self.use_graphs = self.cuda
        self.stats: dict[str, Any] = {"graph_captures": 0, "graph_capture_s": 0.0, "prefills": 0}
        self._layer_cls, self._cache_cls = _cache_classes()
        self._graphs: dict[tuple[int, int], Any] = {}
        self._pool: Any = None

    # -------------------------------------------------------------------------------------------
    def _forward_prefill(self, ids: list[int]) -> tuple[list[tuple[Any, Any]], Any]:
        """One prompt through the model with its own cache: per-layer (keys, values) [heads, P, dim], last logits."""
        torch, b = self.torch, self.b
        out = self.model(input_ids=torch.tensor([ids], device=self.dev), use_cache=True, **b._last_logits_only)
        cache = b._cache_of(out)
        layers = getattr(cache, "layers", None)
        if not layers or getattr(layers[0], "keys", None) is None or layers[0].keys.dim() != 4:
            raise RuntimeError(f"unexpected cache layout {type(cache).__name__}")
        self.stats["prefills"] += 1
        return [(layer.keys[0], layer.values[0]) for layer in layers], out.logits[0, -1, :]

    def probe(self, ids: list[int]) -> str | None:
        """Check on the real model that a decode step through the slot cache gives the logits of the model's own
        incremental decoding (its own cache) for the same prompt and token."""
        torch, b = self.torch, self.b
        try:
            with torch.inference_mode():
                ids = ids[:32] if len(ids) >= 2 else [ids[0] if ids else 0, 1]
                n = len(ids) - 1
                out = self.model(input_ids=torch.tensor([ids[:-1]], device=self.dev), use_cache=True)
                own = b._cache_of(out)
                layers = []
                pos = torch.tensor([n], device=self.dev)
                for layer in own.layers:
                    k, v = layer.keys[0], layer.values[0]
                    kb = k.new_zeros((1, k.shape[0], n + 3, k.shape[2]))
                    vb = v.new_zeros((1, v.shape[0], n + 3, v.shape[2]))
                    kb[0, :, :n], vb[0, :, :n] = k, v
                    layers.append(self._layer_cls(kb, vb, pos))
                last = torch.tensor([ids[-1]], device=self.dev)
                got = self._decode(last, pos, self._cache_cls(layers), n + 3)[0].float()
                ref = self.model(input_ids=last[None], position_ids=pos[None], use_cache=True,
                                 **{b._cache_arg: own}).logits[0, -1].float()
                err = float((got - ref).abs().max() / ref.abs().max().clamp(min=1e-6))
                written = all(bool(layer.keys[0, :, n].abs().sum() > 0) for layer in layers)
        except Exception as e:  # any error: the model does not take the slot cache
            return f"its forward does not take a slot cache ({type(e).__name__}: {str(e)[:120]})"
        self.stats["probe_relative_error"] = err
        if not written:
            return "its layers do not write their keys and values through the cache they are given"
        # rounding differs between attention kernels (masked vs unmasked) and grows with depth in half precision
        if not err <= (1e-3 if self.model.dtype == torch.float32 else 0.1):
            return f"a decode step through the slot cache differs from the model's own (relative error {err:.3g})"
        return None

    def _decode(self, tok: Any, pos: Any, cache: Any, kv_len: int) -> Any:
        torch = self.torch
        dtype = self.model.dtype if self.model.dtype.is_floating_point else torch.float32
        cols = torch.arange(kv_len, device=self.dev)
        mask = torch.where(cols[None, :] <= pos[:, None], 0.0, torch.finfo(dtype).min).to(dtype)[:, None, None, :]
        out = self.model(input_ids=tok[:, None], attention_mask=mask, position_ids=pos[:, None], use_cache=True,
                         **{self.b._cache_arg: cache})
        return out.logits[:, -1, :]

    # -------------------------------------------------------------------------------------------
    def _plan(self, encoded: list[tuple[list[int], GenerationRequest]], params: GenerationParams,
              kv: list[tuple[Any, Any]]) -> tuple[int, int, str]:
        """(slots, max_len, how the slot count was chosen)."""
        torch = self.torch
        cfg = self.model.config
        max_pos = getattr(cfg, "max_position_embeddings", None) or getattr(cfg, "n_positions", None) or 1 << 30
        need = max(len(ids) + (r.max_new_tokens or params.max_new_tokens) for ids, r in encoded)
        max_len = min(-(-need // 64) * 64, int(max_pos))
        size = self.b.batch_size
        if size != "auto":
            return int(size), max_len, f"--batch-size {size}"
        per_slot = sum(k.shape[0] * k.shape[2] * k.element_size() * 2 for k, _ in kv) * max_len
        if not self.cuda:
            return 16, max_len, "auto (16 on CPU)"
        free, _ = torch.cuda.mem_get_info(self.dev)
        vocab = int(getattr(cfg, "vocab_size", 32000))
        # leave room for the step's activations (logits, sort for top-p) and the prefill of a long prompt
        budget = int(free * 0.9) - (2 << 30)
        slots = max(1, min(256, budget // (per_slot + vocab * 24)))
        slots = slots if slots < 8 else slots // 8 * 8
        return slots, max_len, (f"auto: {slots} slots x {max_len} tokens = {slots * per_slot / 2**30:.1f} GiB of KV "
                                f"cache, from {free / 2**30:.1f} GiB free")

    def _alloc(self, slots: int, max_len: int, kv: list[tuple[Any, Any]], vocab: int, cap: int,
               end_ids: set[int]) -> None:
        torch, dev = self.torch, self.dev
        self.K = self.V = None  # the previous call's cache and graphs go first
        self._graphs, self._caches, self._pool = {}, {}, None
        if self.cuda:
            torch.cuda.empty_cache()
        self.slots, self.max_len, self.cap = slots, max_len, cap
        self.K = [k.new_zeros((slots, k.shape[0], max_len, k.shape[2])) for k, _ in kv]
        self.V = [v.new_zeros((slots, v.shape[0], max_len, v.shape[2])) for _, v in kv]
        z = dict(device=dev, dtype=torch.long)
        self.tok, self.pos, self.count = torch.zeros(slots, **z), torch.zeros(slots, **z), torch.zeros(slots, **z)
        self.limit, self.klo, self.khi = torch.ones(slots, **z), torch.zeros(slots, **z), torch.zeros(slots, **z)
        self.done = torch.ones(slots, device=dev, dtype=torch.bool)
        self.out = torch.zeros((slots, cap), **z)
        self.end_table = torch.zeros(vocab, device=dev, dtype=torch.bool)
        ends = [i for i in end_ids if 0 <= i < vocab]
        if ends:
            self.end_table[torch.tensor(ends, device=dev)] = True

    def _state(self) -> list[Any]:
        return [self.tok, self.pos, self.count, self.done, self.out]

    def _step(self, n: int, kv_len: int) -> None:
        """One decode step of the first n slots attending kv_len columns (static shapes: graph-capturable)."""
        torch = self.torch
        cache = self._caches.get((n, kv_len))
        if cache is None:
            pos = self.pos[:n]
            cache = self._cache_cls([self._layer_cls(k[:n, :, :kv_len], v[:n, :, :kv_len], pos)
                                     for k, v in zip(self.K, self.V)])
            self._caches[(n, kv_len)] = cache
        tok, pos, count, done = self.tok[:n], self.pos[:n], self.count[:n], self.done[:n]
        logits = self._decode(tok, pos, cache, kv_len)
        nxt = pick(logits, self.params, uniform(self.klo[:n], self.khi[:n], count))
        live = ~done
        nxt = torch.where(live, nxt, tok)
        self.out[:n].scatter_(1, count.clamp(max=self.cap - 1)[:, None], nxt[:, None])
        new_count = count + live.long()
        fin = self.end_table[nxt] | (new_count >= self.limit[:n]) | (pos + 1 >= self.max_len)
        done.copy_(done | (live & fin))
        pos.copy_(pos + live.long())
        count.copy_(new_count)
        tok.copy_(nxt)

    def _runner(self, n: int, kv_len: int) -> Any:
        key = (n, kv_len)
        if key in self._graphs:
            return self._graphs[key]
        fn = lambda: self._step(n, kv_len)  # noqa: E731
        if not self.use_graphs:
            return fn
        torch = self.torch
        t0 = time.perf_counter()
        saved = [t.clone() for t in self._state()]
        try:
            side = torch.cuda.Stream(self.dev)
            side.wait_stream(torch.cuda.current_stream(self.dev))
            with torch.cuda.stream(side):
                fn()  # warm-up outside the capture (it writes the same key/values the real step will write)
            torch.cuda.current_stream(self.dev).wait_stream(side)
            for t, s in zip(self._state(), saved):
                t.copy_(s)
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph, pool=self._pool):
                fn()
            self._pool = graph.pool()
        except Exception as e:
            torch.cuda.synchronize(self.dev)
            for t, s in zip(self._state(), saved):
                t.copy_(s)
            self.use_graphs = False
            self.stats["graph_error"] = f"{type(e).__name__}: {str(e)[:200]}"
            print(f"evalkit: notice: CUDA graph capture failed ({type(e).__name__}); decoding without graphs",
                  file=sys.stderr)
            return fn
        self._graphs[key] = graph.replay
        self.stats["graph_captures"] += 1
        self.stats["graph_capture_s"] += time.perf_counter() - t0
        return graph.replay

    # -------------------------------------------------------------------------------------------
    def generate(self, requests: Sequence[GenerationRequest], params: GenerationParams, on_result: OnResult) -> None:
        torch, b = self.torch, self.b
        end_ids = set(b.eos_ids)
        if any(isinstance(r.prompt, FimPrompt) for r in requests):
            end_ids |= set(b.fim_layout().end_ids(b.tok))
        encoded = [(b.encode(r.prompt), r) for r in requests]
        if not encoded:
            return
        self.params = params
        t_start = time.perf_counter()
        try:
            with torch.inference_mode():
                self._run(encoded, params, end_ids, on_result)
            if self.cuda:
                torch.cuda.synchronize(self.dev)
        finally:  # the slots and graphs go back to the device (the next call sizes its own)
            self.K = self.V = None
            self._graphs, self._caches, self._pool = {}, {}, None
            if self.cuda:
                torch.cuda.empty_cache()
        self.stats["generate_s"] = time.perf_counter() - t_start
        graphs = (f"; CUDA graphs: {self.stats['graph_captures']} captured in {self.stats['graph_capture_s']:.1f} s"
                  if self.cuda else "")
        if self.stats.get("graph_error"):
            graphs = f"; no CUDA graphs ({self.stats['graph_error']})"
        print(f"evalkit: fast engine: {self.stats['plan']}{graphs}", file=sys.stderr)

    def _run(self, encoded: list[tuple[list[int], GenerationRequest]], params: GenerationParams,
             end_ids: set[int], on_result: OnResult) -> None:
        torch, b = self.torch, self.b
        # samples of one prompt next to each other (one prefill each), in the order given otherwise
        first: dict[tuple[int, ...], int] = {}
        for i, (ids, _) in enumerate(encoded):
            first.setdefault(tuple(ids), i)
        encoded.sort(key=lambda x: first[tuple(x[0])])
        left: dict[tuple[int, ...], int] = {}
        for ids, _ in encoded:
            left[tuple(ids)] = left.get(tuple(ids), 0) + 1
        prefilled: dict[tuple[int, ...], tuple[list[tuple[Any, Any]], Any]] = {}

        def prefill(ids: list[int]) -> tuple[list[tuple[Any, Any]], Any]:
            key = tuple(ids)
            if key not in prefilled:
                prefilled[key] = self._forward_prefill(ids)
            got = prefilled[key]
            left[key] -= 1
            if not left[key]:
                del prefilled[key]
            return got

        kv0, logits0 = self._forward_prefill(encoded[0][0])
        prefilled[tuple(encoded[0][0])] = (kv0, logits0)
        slots, max_len, how = self._plan(encoded, params, kv0)
        cap = max(r.max_new_tokens or params.max_new_tokens for _, r in encoded)
        too_long = [ids for ids, _ in encoded if len(ids) >= max_len]
        if too_long:
            from evalkit.errors import UserError

            raise UserError(f"a prompt of {len(too_long[0])} tokens leaves no room in the model's context "
                            f"({max_len} positions)")
        self._alloc(slots, max_len, kv0, logits0.shape[-1], cap, end_ids)
        self.stats["plan"] = how
        self.stats["slots"], self.stats["max_len"] = slots, max_len
        buckets = sorted({1 << i for i in range(slots.bit_length()) if 1 << i <= slots} | {slots})
        len_step = 256 if self.cuda else 64

        rows: list[dict[str, Any] | None] = [None] * slots  # host view of each slot
        waiting = list(reversed(encoded))  # pop() takes the next in order
        n_used = 0  # slots [0, n_used) may be occupied

        def emit(row: dict[str, Any], new_ids: list[int]) -> None:
            on_result(row["req"], b.finished(row["ids"], row["req"], new_ids, end_ids))

        def admit(free: list[int]) -> None:
            take = []
            while waiting and len(take) < len(free):
                take.append(waiting.pop())
            if not take:
                return
            logits, slot_ids, seeds, limits, starts = [], [], [], [], []
            for slot, (ids, req) in zip(free, take):
                kv, lg = prefill(ids)
                p = len(ids)
                for layer, (k, v) in enumerate(kv):
                    self.K[layer][slot, :, :p] = k
                    self.V[layer][slot, :, :p] = v
                logits.append(lg)
                slot_ids.append(slot)
                seeds.append(req.seed & ((1 << 64) - 1))
                limits.append(req.max_new_tokens or params.max_new_tokens)
                starts.append(p)
                rows[slot] = {"ids": ids, "req": req, "checked": 0,
                              "stops": list(req.stop) + (["\n"] if req.single_line else [])}
            idx = torch.tensor(slot_ids, device=self.dev)
            lo = torch.tensor([s & _M32 for s in seeds], device=self.dev)
            hi = torch.tensor([s >> 32 for s in seeds], device=self.dev)
            zero = torch.zeros(len(take), dtype=torch.long, device=self.dev)
            t0 = pick(torch.stack(logits), params, uniform(lo, hi, zero))
            lim = torch.tensor(limits, device=self.dev)
            pos = torch.tensor(starts, device=self.dev)
            self.klo[idx], self.khi[idx], self.limit[idx] = lo, hi, lim
            self.tok[idx], self.pos[idx] = t0, pos
            self.count[idx] = 1
            self.out[idx, 0] = t0
            self.done[idx] = self.end_table[t0] | (lim <= 1) | (pos + 1 >= max_len)

        def compact() -> int:
            """Move the occupied slots to the front (once per halving of the bucket); returns how many."""
            used = [i for i in range(n_used) if rows[i] is not None]
            moves = [(src, dst) for dst, src in enumerate(used) if src != dst]
            if moves:
                src = torch.tensor([s for s, _ in moves], device=self.dev)
                dst = torch.tensor([d for _, d in moves], device=self.dev)
                width = int(self.pos[: n_used].max()) + 1
                for t in (*self.K, *self.V):
                    t[dst, :, :width] = t[src, :, :width]
                for t in (self.tok, self.pos, self.count, self.done, self.limit, self.klo, self.khi, self.out):
                    t[dst] = t[src]
                for s, d in moves:
                    rows[d], rows[s] = rows[s], None
                self.done[len(used): n_used], self.pos[len(used): n_used] = True, 0  # vacated: idle rows
            return len(used)

        admit(list(range(slots)))
        n_used = sum(r is not None for r in rows)
        while n_used:
            if not waiting:
                occupied = sum(r is not None for r in rows[:n_used])
                if occupied and occupied <= n_used // 2:
                    n_used = compact()
            n = next(x for x in buckets if x >= n_used)
            pos_max = int(self.pos[:n].max()) + self.check_every
            kv_len = min(max_len, -(-(pos_max + 1) // len_step) * len_step)
            step = self._runner(n, kv_len)
            for _ in range(self.check_every):
                step()
            # the host looks: one transfer of the counts, flags and tokens
            counts = self.count[:n].tolist()
            done = self.done[:n].tolist()
            width = max(counts) if counts else 0
            toks = self.out[:n, :width].tolist()
            freed = []
            for slot in range(n):
                row = rows[slot]
                if row is None:
                    continue
                c = counts[slot]
                new = toks[slot][:c]
                end = self._stop_at(row, new, c) if row["stops"] else None
                if end is None and done[slot]:
                    end = c
                if end is None:
                    row["checked"] = c
                    continue
                emit(row, new[:end])
                rows[slot] = None
                freed.append(slot)
            if freed:
                gone = torch.tensor(freed, device=self.dev)
                self.done[gone], self.pos[gone] = True, 0
                if waiting:
                    admit(freed)
            n_used = max((i + 1 for i in range(slots) if rows[i] is not None), default=0)

    def _stop_at(self, row: dict[str, Any], new: list[int], c: int) -> int | None:
        """The first n in (checked, c] at which the eager path's stop rule holds for new[:n], else None."""
        dec = self.b.decode_new
        start = row["checked"]
        window = dec(new[max(0, start + 1 - _STOP_WINDOW): c])
        if not any(s in window for s in row["stops"]):
            return None
        for n in range(start + 1, c + 1):
            tail = dec(new[max(0, n - _STOP_WINDOW): n])
            if any(s in tail for s in row["stops"]):
                return n
        return None


def resolve(backend: Any) -> FastEngine | None:
    """The backend's fast engine, or None for the eager path (``backend.engine``: auto, fast or eager).

    auto takes the fast engine where the model's cache layout fits (``supported``) and a decode step through the
    slot cache reproduces the model's own logits (``FastEngine.probe``); otherwise it says why, once, and uses the
    eager path. ``fast`` turns that reason into an error."""
    mode = getattr(backend, "engine", "auto")
    if mode == "eager" or backend.model is None:
        return None
    if getattr(backend, "_fast_resolved", False):
        return backend._fast
    engine = FastEngine(backend)
    reason = supported(backend.model, backend.device_map)
    if reason is None:
        reason = engine.probe(backend.tok.encode("def add(a, b):\n    return a + b\n"))
    backend._fast_resolved, backend._fast = True, (None if reason else engine)
    if reason:
        if mode == "fast":
            from evalkit.errors import UserError

            raise UserError(f"--engine fast does not fit this model: {reason}")
        print(f"evalkit: notice: eager generation (the fast engine does not fit: {reason})", file=sys.stderr)
    return backend._fast
