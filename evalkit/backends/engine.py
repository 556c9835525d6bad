"""The fast decode engine: a preallocated KV cache of fixed slots, a static-shape decode step, on-device sampling.

How it works (``FastEngine.generate``):
  * the KV cache is one preallocated tensor per layer, ``slots x max_len`` (evalkit/backends/slots.py), kept for
    the whole run: the next task reuses it (and the captured decode graphs) when it fits. Slots are sized from free
    device memory for the longest sequence (fewer slots for long prompts) and never exceed the number of requests;
  * prefill is batched: the distinct prompts of an admission go through the model together (left-padded, in chunks
    of at most ``chunk`` columns: attention is chunk x length, logits only at the last position) and write their
    keys/values straight into their slots (one write per layer); the samples of one prompt get one copy per layer;
  * decode attention reads each row's real length: FlexAttention with a per-row length block mask on CUDA (one
    graph per batch bucket), or SDPA over a length bucket (the fallback, with a notice), GQA without K/V copies;
  * the step's forward, sampling and state updates are compiled with ``torch.compile`` (on CUDA by default;
    ``compile_step``: evalkit/backends/engine_compile.py; a failed compile goes on eagerly, with one line) and
    each decode step is captured once per (run, batch bucket) as a CUDA graph around the compiled kernels
    (evalkit/backends/graphs.py: a failed capture falls back to the eager step, with one line);
  * sampling (temperature, top-p by a threshold search: evalkit/backends/sampling.py) runs on the device with a
    counter-based random stream per sample, so a sample's draws do not depend on its batch;
  * EOS / end tokens, the per-request token limit and the model's window (``max_position_embeddings``, as the
    eager path) are detected on the device; after each burst of ``check_every`` steps the host takes an
    asynchronous snapshot of the counts, flags and new tokens, launches the next burst, and only then reads the
    snapshot (double-buffered: stop strings are checked while the device works; evalkit/backends/engine_loop.py),
    and cuts a finished row at the token where eager generation would have stopped; freed slots are refilled in
    groups (an eighth of the slots, or all that wait), so prefill calls stay few;
  * out of memory during prefill, capture or decode: the unfinished requests start again with half the slots.

Models whose cache layout does not fit (sliding-window or hybrid/recurrent layers, remote code, multi-device
``--device-map``, flash attention, encoder-decoder, RoPE recomputed from the length inside the step) use the eager
path; ``supported`` says why.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Sequence
from typing import Any

from evalkit.backends import slots as sl
from evalkit.backends.base import GenerationParams, GenerationRequest, OnResult
from evalkit.backends.engine_compile import CompiledStep, wanted
from evalkit.backends.graphs import capture
from evalkit.backends.sampling import _M32, _mix32, _mul32, pick, sampling_probs, uniform  # noqa: F401
from evalkit.task import FimPrompt

_STOP_WINDOW = 24  # the eager path's stop rule: a stop sequence in the text of the last 24 new tokens
_SLOT_CAP = 256
_SCORES_FLOOR = 256 << 20  # bytes of prefill attention scores always allowed (see _chunk)


def window_of(model: Any) -> int:
    """The model's context window in positions (``max_position_embeddings``; GPT-2: ``n_positions``)."""
    cfg = model.config
    return int(getattr(cfg, "max_position_embeddings", None) or getattr(cfg, "n_positions", None) or 1 << 30)


def rope_kind(cfg: Any) -> str | None:
    """The RoPE scaling type the checkpoint's config declares (None: plain RoPE or none)."""
    for name in ("rope_parameters", "rope_scaling"):
        rp = getattr(cfg, name, None)
        if isinstance(rp, dict):
            kind = rp.get("rope_type") or rp.get("type")
            if kind and kind != "default":
                return str(kind)
    return None


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
    if attn not in ("sdpa", "eager", sl.NAME):
        return f"attention implementation {attn!r} is not plain attention"
    types = set(getattr(cfg, "layer_types", None) or [])
    if types - {"full_attention"}:
        return f"layer types {sorted(types - {'full_attention'})} are not plain full attention"
    if getattr(cfg, "sliding_window", None) and getattr(cfg, "use_sliding_window", True):
        return "sliding-window attention"
    kind = rope_kind(cfg)
    if kind in ("dynamic", "longrope"):
        return f"its RoPE ({kind}) is recomputed from the sequence length inside the step"
    try:
        from transformers import DynamicCache
        from transformers.cache_utils import DynamicLayer

        layers = getattr(DynamicCache(config=cfg), "layers", None)
        if layers and any(type(layer) is not DynamicLayer for layer in layers):
            return "its cache has other layer types than plain key/value layers"
    except Exception:  # older transformers: the probe decides
        pass
    return None


class FastEngine:
    def __init__(self, backend: Any, check_every: int | None = None) -> None:
        import torch

        self.b = backend
        self.torch = torch
        self.model = backend.model
        self.dev = torch.device(backend.model.device if backend.device_map else backend.device)
        self.cuda = self.dev.type == "cuda"
        self.check_every = check_every or (8 if self.cuda else 2)
        self.gpu: Any = torch.cuda if self.cuda else None  # the capture API (tests force failures through it)
        self.use_graphs = self.cuda
        self.count_columns = False  # bench/tests: replay the attention reads of every step (host syncs)
        self.stats: dict[str, Any] = {"graph_captures": 0, "graph_capture_s": 0.0, "prefill_calls": 0,
                                      "requests": 0, "decode_steps": 0, "host_syncs": 0, "host_stalls": 0,
                                      "allocations": 0,
                                      "slots_allocated": 0, "cols_real": 0, "cols_flex": 0, "cols_sdpa": 0}
        self._layer_cls, self._cache_cls = sl.cache_classes()
        sl.register()
        self.K: list[Any] | None = None
        self._runners: dict[tuple[int, int], Any] = {}
        self._caches: dict[int, Any] = {}
        self._masks: dict[int, Any] = {}  # decode flex: one BlockMask per batch bucket, refreshed in place
        self._pool: Any = None
        self.slot_cap = _SLOT_CAP
        self.kind = os.environ.get("EVALKIT_DECODE_ATTENTION") or ("flex" if self.cuda and _flex_ok() else "sdpa")
        self.chunk = int(os.environ.get("EVALKIT_PREFILL_CHUNK", "0")) or None  # None: from memory (_chunk)
        self.flex_fn: Any = None
        self.prefill_tokens = 16384 if self.cuda else 4096  # padded prompt tokens per prefill call
        self._fused: Any = None  # the compiled step (evalkit/backends/engine_compile.py), made on first use
        self.compile_step = wanted(backend, self.cuda)

    # ------------------------------------------------------------------------------------------------
    def _kv_shapes(self) -> list[tuple[int, int, Any]]:
        """(kv heads, head dim, dtype) per layer, from a one-token forward with the model's own cache."""
        if not hasattr(self, "_shapes"):
            out = self.model(input_ids=self.torch.tensor([[1]], device=self.dev), use_cache=True)
            layers = getattr(self.b._cache_of(out), "layers", None)
            if not layers or getattr(layers[0], "keys", None) is None or layers[0].keys.dim() != 4:
                raise RuntimeError("unexpected cache layout")
            self._shapes = [(la.keys.shape[1], la.keys.shape[3], la.keys.dtype) for la in layers]
        return self._shapes

    def probe(self, ids: list[int]) -> str | None:
        """Check on the real model that a prefill into the slots and a decode step through them give the logits of
        the model's own incremental decoding for the same prompt and token."""
        torch, b = self.torch, self.b
        before = dict(self.stats)
        try:
            with torch.inference_mode():
                ids = ids[:32] if len(ids) >= 3 else [1, 2, 3]
                n = len(ids) - 1
                out = self.model(input_ids=torch.tensor([ids[:-1]], device=self.dev), use_cache=True)
                own = b._cache_of(out)
                last = torch.tensor([ids[-1]], device=self.dev)
                ref = self.model(input_ids=last[None], position_ids=torch.tensor([[n]], device=self.dev),
                                 use_cache=True, **{b._cache_arg: own}).logits[0, -1].float()
                self._alloc(2, -(-(n + 8) // 64) * 64, end_ids=set(), vocab=ref.shape[-1])
                self._prefill([(ids[:-1], [1])])  # slot 1: the write positions are really per slot
                self.tok[1], self.pos[1], self.done[1] = ids[-1], n, False
                self.lens[:2] = self.pos[:2] + 1
                ctx = {"kind": self.kind, "lens": self.lens[:2], "kv_len": self.max_len}
                if self.kind == "flex":
                    ctx["flex"] = sl.flex_block_mask(self.lens[:2], self.max_len)
                    sl.CTX.extra["flex_fn"] = self._flex()
                with sl.engaged(self.model, "decode", **ctx):
                    got = self._forward(2)[1].float()
                err = float((got - ref).abs().max() / ref.abs().max().clamp(min=1e-6))
                written = all(bool(k[1, :, n].abs().sum() > 0) for k in self.K)
        except Exception as e:  # any error: the model does not take the slot cache
            return f"its forward does not take a slot cache ({type(e).__name__}: {str(e)[:120]})"
        finally:
            self._free()
            self.stats = before
        self.stats["probe_relative_error"] = err
        if not written:
            return "its layers do not write their keys and values through the cache they are given"
        # rounding differs between attention kernels (masked vs unmasked) and grows with depth in half precision
        if not err <= (1e-3 if self.model.dtype == torch.float32 else 0.1):
            return f"a decode step through the slot cache differs from the model's own (relative error {err:.3g})"
        return None

    # ------------------------------------------------------------------------------------------------
    def _plan(self, encoded: list[tuple[list[int], GenerationRequest]], params: GenerationParams) -> tuple[int, int, str]:
        """(slots, max_len, how the slot count was chosen): max_len fits the longest prompt + its tokens (within
        the window); slots from free memory for that length, capped at the number of requests."""
        torch = self.torch
        need = max(len(ids) + (r.max_new_tokens or params.max_new_tokens) for ids, r in encoded)
        max_len = min(-(-need // 64) * 64, window_of(self.model))
        per_slot = sum(2 * h * d * torch.empty((), dtype=dt).element_size() for h, d, dt in self._kv_shapes()) * max_len
        want = min(len(encoded), self.slot_cap)
        want = want if want < 8 else -(-want // 8) * 8
        size = self.b.batch_size
        if size != "auto":
            return min(int(size), want), max_len, f"--batch-size {size}"
        if self.cuda:
            free, _ = torch.cuda.mem_get_info(self.dev)
            free += sum(t.numel() * t.element_size() for t in (self.K or []) + (self.V or []))
            where = f"{free / 2**30:.1f} GiB free"
        else:
            free = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
            where = f"{free / 2**30:.1f} GiB free RAM"
            want = min(want, 16)
        vocab = int(getattr(self.model.config, "vocab_size", 32000))
        # room for the step's activations (logits, top-p) and a prefill chunk
        budget = int(free * 0.85) - (2 << 30 if self.cuda else 1 << 30)
        slots = max(1, min(want, budget // (per_slot + vocab * 24)))
        slots = slots if slots < 8 else slots // 8 * 8
        return slots, max_len, (f"auto: {slots} slots x {max_len} tokens = {slots * per_slot / 2**30:.2f} GiB of KV "
                                f"cache, from {where}")

    def _free(self) -> None:
        self.K = self.V = None
        self._runners, self._caches, self._masks, self._pool, self._fused = {}, {}, {}, None, None
        if self.cuda:
            self.torch.cuda.empty_cache()

    def _alloc(self, slots: int, max_len: int, end_ids: set[int], vocab: int) -> None:
        """The slots (kept for the run: reused while they fit, with their graphs), the step's state tensors."""
        torch, dev = self.torch, self.dev
        if self.K is None or slots > self.slots or max_len > self.max_len:
            self._free()
            shapes = self._kv_shapes()
            self.K = [torch.zeros((slots, h, max_len, d), dtype=dt, device=dev) for h, d, dt in shapes]
            self.V = [torch.zeros((slots, h, max_len, d), dtype=dt, device=dev) for h, d, dt in shapes]
            self.slots, self.max_len = slots, max_len
            z = dict(device=dev, dtype=torch.long)
            self.tok, self.pos, self.count = torch.zeros(slots, **z), torch.zeros(slots, **z), torch.zeros(slots, **z)
            self.limit, self.klo, self.khi = torch.ones(slots, **z), torch.zeros(slots, **z), torch.zeros(slots, **z)
            self.lens = torch.ones(slots, **z)
            self.done = torch.ones(slots, device=dev, dtype=torch.bool)
            self.out = torch.zeros((slots, max_len), **z)
            self.end_table = torch.zeros(vocab, device=dev, dtype=torch.bool)
            self.stats["allocations"] += 1
            self.stats["slots_allocated"] += slots
        self.done.fill_(True)
        self.pos.zero_()
        self.end_table.zero_()
        ends = [i for i in end_ids if 0 <= i < vocab]
        if ends:
            self.end_table[torch.tensor(ends, device=dev)] = True

    def h2d(self, values: list[int]) -> Any:
        """A long tensor on the device from host ints without waiting for the device (CUDA: from pinned memory,
        non-blocking; a plain copy waits for the queued steps)."""
        t = self.torch.tensor(values, dtype=self.torch.long)
        return t.pin_memory().to(self.dev, non_blocking=True) if self.cuda else t

    def _state(self) -> list[Any]:
        return [self.tok, self.pos, self.count, self.done, self.out, self.lens]

    # ------------------------------------------------------------------------------------------------
    def _chunk(self, rows: int, length: int) -> int:
        """Prefill chunk: the attention scores of a chunk (rows x heads x chunk x length, float32 at worst) within
        an eighth of the KV cache's size, or for a group of prompts 256 MiB (the room ``_plan`` keeps for
        activations) if that is larger, 64 to 2048 columns. (Without the floor a small cache cut every group's
        prefill into 64-column chunks: 0.42 prefill calls per request on the greedy HumanEval proxy. A single
        prompt keeps to the eighth, so a long one stays within ~1.2x of the cache: bench/long_context.py.)"""
        if self.chunk:
            return self.chunk
        heads = int(getattr(self.model.config, "num_attention_heads", None) or self.model.config.n_head)
        kv = sum(t.numel() * t.element_size() for t in self.K + self.V)
        room = kv // 8 if rows == 1 else max(kv // 8, _SCORES_FLOOR)  # one long prompt: within an eighth
        c = max(64, min(2048, room // max(1, rows * heads * length * 4)))
        return 1 << (c.bit_length() - 1)

    def _prefill(self, group: list[tuple[list[int], list[int]]]) -> Any:
        """Prompts (with the slots each fills) through the model together, left-padded, in chunks, writing their
        keys/values into the first slot of each; then one copy per layer into the other slots. Last logits [b, V]."""
        torch, dev = self.torch, self.dev
        first = self.h2d([s[0] for _, s in group])
        lens = [len(ids) for ids, _ in group]
        width = max(lens)
        pad = self.b.tok.pad_token_id or 0
        ids = self.h2d([[pad] * (width - len(x)) + x for x, _ in group])
        off = self.h2d([width - n for n in lens])
        col = torch.arange(width, device=dev)
        real = col[None, :] - off[:, None]  # each column's real position (negative: pad)
        wpos = torch.where(real >= 0, real, self.max_len - 1)  # pads: a scratch position, written before it is read
        qpos = real.clamp(min=0)
        slots_first = [s[0] for _, s in group]
        contiguous = slots_first == list(range(slots_first[0], slots_first[0] + len(group)))
        chunk = self._chunk(len(group), width)
        logits = None
        for s in range(0, width, chunk):
            e = min(width, s + chunk)
            # the keys of row r up to its real position of column e-1 (the longest row: e)
            layers = [self._layer_cls(k, v, slots=first, wpos=wpos[:, s:e], end=e,
                                      first=slots_first[0] if contiguous else None) for k, v in zip(self.K, self.V)]
            with sl.engaged(self.model, "prefill", qpos=qpos[:, s:e]):
                out = self.model(input_ids=ids[:, s:e], position_ids=qpos[:, s:e], use_cache=True,
                                 **{self.b._cache_arg: self._cache_cls(layers)}, **self.b._last_logits_only)
            self.stats["prefill_calls"] += 1
            logits = out.logits[:, -1, :]
        src = [s[0] for _, s in group for _ in s[1:]]
        dst = [d for _, s in group for d in s[1:]]
        if dst:  # the other samples of each prompt: one copy per layer
            si, di = self.h2d(src), self.h2d(dst)
            for t in (*self.K, *self.V):
                t[di, :, :width] = t[si, :, :width]
        return logits

    def _cache(self, n: int) -> Any:
        """The slot cache over the first n slots (made once per bucket, outside the compiled step: no recompile)."""
        cache = self._caches.get(n)
        if cache is None:
            cache = self._cache_cls([self._layer_cls(k[:n], v[:n], pos=self.pos[:n]) for k, v in zip(self.K, self.V)])
            self._caches[n] = cache
        return cache

    def _forward(self, n: int) -> Any:
        """Logits of one decode step of the first n slots (tok at pos), through the engine's attention (the
        caller has engaged it)."""
        out = self.model(input_ids=self.tok[:n, None], position_ids=self.pos[:n, None], use_cache=True,
                         **{self.b._cache_arg: self._cache(n)})
        return out.logits[:, -1, :]

    def _flex(self) -> Any:
        if self.flex_fn is None:
            from torch.nn.attention.flex_attention import flex_attention

            self.flex_fn = self.torch.compile(flex_attention, dynamic=False) if self.cuda else flex_attention
        return self.flex_fn

    def _step(self, n: int, kv_len: int) -> None:
        """One decode step of the first n slots (static shapes: graph-capturable): the rows' lengths and the
        attention's context here, the rest in ``_core`` (compiled where ``compile_step`` says so)."""
        torch = self.torch
        self.lens[:n].copy_(torch.where(self.done[:n], 1, self.pos[:n] + 1))
        ctx: dict[str, Any] = {"kind": self.kind, "lens": self.lens[:n], "kv_len": kv_len}
        if self.kind == "flex":
            mask = self._masks.get(n)
            if mask is None:
                mask = self._masks[n] = sl.flex_block_mask(self.lens[:n], self.max_len)
            ctx["flex"] = sl.refresh_block_mask(mask, self.lens[:n])
            sl.CTX.extra["flex_fn"] = self._flex()
        self._cache(n)
        with sl.engaged(self.model, "decode", **ctx):
            (self._fused or self._core)(n, kv_len)

    def _core(self, n: int, kv_len: int) -> None:
        """The model's forward through the slot cache, sampling, and the state updates of one decode step."""
        torch = self.torch
        tok, pos, count, done = self.tok[:n], self.pos[:n], self.count[:n], self.done[:n]
        logits = self._forward(n)
        nxt = pick(logits, self.params, uniform(self.klo[:n], self.khi[:n], count))
        live = ~done
        nxt = torch.where(live, nxt, tok)
        self.out[:n].scatter_(1, count.clamp(max=self.max_len - 1)[:, None], nxt[:, None])
        new_count = count + live.long()
        fin = self.end_table[nxt] | (new_count >= self.limit[:n]) | (pos + 2 >= self.max_len)
        done.copy_(done | (live & fin))
        pos.copy_(pos + live.long())
        count.copy_(new_count)
        tok.copy_(nxt)

    def _runner(self, n: int, kv_len: int) -> Any:
        key = (n, 0 if self.kind == "flex" else kv_len)
        if key not in self._runners:
            if self.compile_step and self._fused is None:
                self._fused = CompiledStep(self.torch, self._core, lambda: self._state(), self.stats)
            fn = lambda: self._step(n, kv_len)  # noqa: E731
            replay = None
            if self.use_graphs:
                replay, self._pool = capture(self.gpu, self.dev, fn, self._state(), self._pool, self.stats)
                if replay is None:
                    self.use_graphs = False
            self._runners[key] = replay or fn
        return self._runners[key]

    # ------------------------------------------------------------------------------------------------
    def generate(self, requests: Sequence[GenerationRequest], params: GenerationParams, on_result: OnResult) -> None:
        torch, b = self.torch, self.b
        end_ids = set(b.eos_ids)
        if any(isinstance(r.prompt, FimPrompt) for r in requests):
            end_ids |= set(b.fim_layout().end_ids(b.tok))
        encoded = b.fit_window([(b.encode(r.prompt), r) for r in requests], params)
        if not encoded:
            return
        self.params = params
        t_start = time.perf_counter()
        done_keys: set[Any] = set()

        def emit(req: GenerationRequest, gen: Any) -> None:
            done_keys.add(req.key)
            on_result(req, gen)

        oom = getattr(torch, "OutOfMemoryError", torch.cuda.OutOfMemoryError)
        while True:
            try:
                with torch.inference_mode():
                    self._run([x for x in encoded if x[1].key not in done_keys], params, end_ids, emit)
                break
            except oom:
                self._free()
                self._runners.clear()
                if self.slot_cap <= 1:
                    raise
                self.slot_cap = max(1, min(self.slot_cap, self.slots if hasattr(self, "slots") else 256) // 2)
                print(f"evalkit: notice: out of memory in the fast engine; going on with at most {self.slot_cap} "
                      "slots", file=sys.stderr)
        self.stats["host_syncs"] += 1  # the end of the task (the last burst in flight finishes): counted on CPU too
        self.stats["host_stalls"] += 1
        if self.cuda:
            torch.cuda.synchronize(self.dev)
        self.stats["generate_s"] = time.perf_counter() - t_start
        graphs = (f"; CUDA graphs: {self.stats['graph_captures']} captured in {self.stats['graph_capture_s']:.1f} s "
                  "(this run)" if self.cuda else "")
        if self.stats.get("graph_error"):
            graphs = f"; no CUDA graphs ({self.stats['graph_error']})"
        if not getattr(self, "_announced", False):  # one line per run, written around any progress bar
            self._announced = True
            from tqdm import tqdm

            tqdm.write(f"evalkit: fast engine: {self.stats['plan']}; decode attention {self.kind}{graphs}",
                       file=sys.stderr)

    def _run(self, encoded: list[tuple[list[int], GenerationRequest]], params: GenerationParams,
             end_ids: set[int], emit: OnResult) -> None:
        from evalkit.backends.engine_loop import run

        if not encoded:
            return
        slots, max_len, how = self._plan(encoded, params)
        vocab = int(self.model.get_output_embeddings().weight.shape[0])
        self._alloc(slots, max_len, end_ids, vocab)
        self.stats["plan"] = how
        self.stats["slots"], self.stats["max_len"] = slots, self.max_len
        run(self, encoded, params, end_ids, emit, slots)

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


def _flex_ok() -> bool:
    try:
        from torch.nn.attention.flex_attention import BlockMask, flex_attention  # noqa: F401
    except ImportError:
        return False
    return True


def resolve(backend: Any) -> FastEngine | None:
    """The backend's fast engine, or None for the eager path (``backend.engine``: auto, fast or eager).

    auto takes the fast engine where the model's cache layout fits (``supported``) and a prefill + decode step
    through the slot cache reproduces the model's own logits (``FastEngine.probe``); otherwise it says why, once,
    and uses the eager path. ``fast`` turns that reason into an error."""
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
    elif engine.kind == "sdpa":
        print("evalkit: notice: fast engine decode attention: SDPA over length buckets (FlexAttention "
              f"{'unavailable' if engine.cuda else 'runs on CUDA only'}; set EVALKIT_DECODE_ATTENTION=flex to force)",
              file=sys.stderr)
    return backend._fast
