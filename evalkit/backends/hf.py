"""Hugging Face transformers backend: any checkpoint ``AutoModelForCausalLM`` loads, batched across problems.

Generation is a plain loop over the model's forward with a KV cache, so that
  * requests of many problems share a batch (sorted by prompt length, left-padded), and the samples of one
    problem share one prefill;
  * a sequence that hits EOS, an end token, a stop sequence or max_new_tokens is emitted at once and leaves the
    batch (its rows are dropped from the cache), and waiting requests are prefilled and merged into the running
    batch (continuous batching), so the device stays full until the last sequence;
  * sampling uses one random stream per sample (seeded from seed, task, task_id, sample_idx) and inverse-CDF
    sampling in vocabulary order, so a sample's text does not depend on which other samples share its batch;
  * new text is decoded after an anchor token, so a leading space or indentation is never lost.
"""

from __future__ import annotations

import hashlib
import os
import random
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from evalkit import hub
from evalkit.backends.base import ChatPrompt, Generation, GenerationParams, GenerationRequest, OnResult
from evalkit.errors import UserError, first_line
from evalkit.task import FimPrompt

_DTYPES = {"bf16": "bfloat16", "fp16": "float16", "fp32": "float32"}
_STOP_WINDOW = 24  # tokens decoded at each step to look for a stop sequence


def local_fingerprint(path: Path) -> str:
    """A hash of a local checkpoint directory's files (contents; first and last MiB of files over 64 MiB)."""
    h = hashlib.sha256()
    for f in sorted(p for p in path.rglob("*") if p.is_file()):
        rel = f.relative_to(path).as_posix()
        if rel.startswith("."):
            continue
        size = f.stat().st_size
        h.update(f"{rel}\0{size}\0".encode())
        with open(f, "rb") as fh:
            if size <= 64 << 20:
                h.update(fh.read())
            else:
                h.update(fh.read(1 << 20))
                fh.seek(-(1 << 20), os.SEEK_END)
                h.update(fh.read())
    return h.hexdigest()


def _looks_local(model: str) -> bool:
    return model.startswith(("/", "./", "../", "~")) or os.path.exists(model) or model.count("/") > 1


class HFBackend:
    name = "hf"

    def __init__(self, model: str, *, revision: str | None = None, dtype: str = "auto", device: str | None = None,
                 device_map: str | None = None, batch_size: str | int = "auto", trust_remote_code: bool = False,
                 fim: str = "psm", fim_tokens: str | None = None, load_weights: bool = True,
                 engine: str = "auto", compile_step: str = "auto") -> None:
        try:
            import torch
            import transformers
        except ImportError:
            raise UserError("model backends need transformers and torch: pip install 'evalkit[hf]'") from None
        self.torch = torch
        self.model_id = model
        self.revision = revision
        if _looks_local(model):
            p = Path(model).expanduser()
            if not p.is_dir():
                raise UserError(f"model directory {model} does not exist")
            self.model_id = str(p)
            hub.check_model_dir(p, weights=load_weights)  # say what is missing, before transformers does
        else:
            hub.offline_reason()  # an unreachable hub: use the cache only, no retries
        kw: dict[str, Any] = {"revision": revision, "trust_remote_code": trust_remote_code}
        try:
            self.tok = transformers.AutoTokenizer.from_pretrained(self.model_id, **kw)
        except Exception as e:  # OSError (no files), ValueError (unknown class), ...
            offline = "" if _looks_local(model) else hub.offline_message(hub.MODEL_HINT)
            raise UserError(f"cannot load model {model}: {offline}" if offline else
                            f"cannot load the tokenizer of {model}: {first_line(e)}") from None
        self.tok.padding_side = "left"
        from evalkit.backends.chat import declared_bos

        self._bos_declared = declared_bos(self.model_id, revision)  # the checkpoint's add_bos_token, honoured
        if self.tok.pad_token_id is None:
            self.tok.pad_token = self.tok.eos_token or self.tok.unk_token
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.device_map = device_map
        self.fim_mode = fim
        self.fim_tokens = fim_tokens
        self._fim = None
        self.batch_size = batch_size
        self.engine = engine  # auto | fast | eager (evalkit/backends/engine.py)
        self.compile_step = compile_step  # auto | on | off: the fast engine's fused step (engine_compile.py)
        self._fast_resolved = False
        self._truncated: dict[Any, int] = {}  # request key -> prompt length before left truncation
        self.model = None
        self.dtype_name = dtype
        if load_weights:
            self._load_model(transformers, kw, dtype)
        self._anchor = self.tok.encode("a", add_special_tokens=False)[-1:]
        self._anchor_text = self.tok.decode(self._anchor)

    def _load_model(self, transformers: Any, kw: dict[str, Any], dtype: str) -> None:
        torch = self.torch
        if dtype == "auto":
            torch_dtype: Any = torch.float32 if self.device == "cpu" and not self.device_map else "auto"
        else:
            torch_dtype = getattr(torch, _DTYPES[dtype])
        load_kw = dict(kw, dtype=torch_dtype)
        if self.device_map:
            load_kw["device_map"] = self.device_map
        try:
            try:
                model = transformers.AutoModelForCausalLM.from_pretrained(self.model_id, **load_kw)
            except TypeError:  # transformers 4.x spells it torch_dtype
                load_kw["torch_dtype"] = load_kw.pop("dtype")
                model = transformers.AutoModelForCausalLM.from_pretrained(self.model_id, **load_kw)
        except Exception as e:
            raise UserError(f"cannot load model {self.model_id}: {first_line(e)}") from None
        if not self.device_map:
            try:
                model = model.to(self.device)
            except (RuntimeError, AssertionError, ValueError) as e:
                raise UserError(f"cannot put the model on device {self.device!r}: {first_line(e)}") from None
        self.attach(model)

    def attach(self, model: Any) -> None:
        """Use an already loaded model (``from_pretrained`` above, or one built in memory, as the benchmarks do)."""
        import inspect

        model.eval()
        self.model = model
        self._fast_resolved = False  # the engine is chosen for this model (evalkit/backends/engine.py)
        params = inspect.signature(model.forward).parameters
        # transformers >= 5.2x names the KV cache argument ``cache``; earlier releases ``past_key_values``
        self._cache_arg = "cache" if "cache" in params else "past_key_values"
        self._last_logits_only = {"logits_to_keep": 1} if "logits_to_keep" in params else {}
        self._window = self.window()
        gen_cfg = getattr(model, "generation_config", None)
        eos: set[int] = set()
        for src in (getattr(gen_cfg, "eos_token_id", None), self.tok.eos_token_id):
            if isinstance(src, int):
                eos.add(src)
            elif src:
                eos.update(src)
        self.eos_ids = eos

    # ------------------------------------------------------------------------------------------
    def info(self) -> dict[str, Any]:
        import transformers

        cfg = getattr(self.model, "config", None)
        local = Path(self.model_id).is_dir()
        return {
            "backend": "hf",
            "id": self.model_id,
            "revision": self.revision,
            "commit_hash": getattr(cfg, "_commit_hash", None) if not local else None,
            "local_sha256": local_fingerprint(Path(self.model_id)) if local else None,
            "architecture": (getattr(cfg, "architectures", None) or [None])[0],
            "dtype": str(getattr(self.model, "dtype", self.dtype_name)).replace("torch.", ""),
            "tokenizer": type(self.tok).__name__,
            "transformers_version": transformers.__version__,
            "torch_version": self.torch.__version__,
            "fim": self.fim_info() if self._fim is not None else None,
            "engine": self.engine_name(),
            "compile_step": self.compile_step,  # requested: auto | on | off (auto compiles on CUDA only)
        }

    def engine_name(self) -> str:
        """'fast' or 'eager': the decode engine this model gets (the fast one draws different random numbers)."""
        from evalkit.backends.engine import resolve

        return "fast" if resolve(self) is not None else "eager"

    # ------------------------------------------------------------------------------------------
    def fim_layout(self):  # noqa: ANN201
        if self._fim is None:
            from evalkit.backends.fim import detect_fim

            self._fim = detect_fim(self.tok, self.fim_tokens)
        return self._fim

    def check_fim(self) -> None:
        self.fim_layout()

    def fim_info(self) -> dict[str, Any]:
        f = self.fim_layout()
        return {"family": f.family, "mode": self.fim_mode, "tokens": f.token_names()}

    def encode(self, prompt: Any) -> list[int]:
        from evalkit.backends.chat import encode_chat, render_chat, with_bos

        if isinstance(prompt, FimPrompt):
            ids = self.fim_layout().encode(self.tok, prompt.prefix, prompt.suffix, self.fim_mode)
            return with_bos(ids, self.tok.bos_token_id, self._bos_declared)
        if isinstance(prompt, ChatPrompt):
            if not getattr(self.tok, "chat_template", None):
                raise UserError(f"{self.model_id} has no chat template; run without --chat")
            # the template renders the assistant turn (and its BOS), as the model's reference code does
            return encode_chat(self.tok, render_chat(self.tok, prompt.user, prompt.assistant_prefix))
        return with_bos(self.tok.encode(prompt), self.tok.bos_token_id, self._bos_declared)

    def render(self, request: GenerationRequest) -> dict[str, Any]:
        ids = self.encode(request.prompt)
        return {"text": self.tok.decode(ids, skip_special_tokens=False), "ids": ids,
                "pieces": self.tok.convert_ids_to_tokens(ids)}

    def decode_new(self, new_ids: Sequence[int]) -> str:
        """Text of generated tokens, decoded after an anchor so a leading space is kept."""
        text = self.tok.decode(self._anchor + list(new_ids), skip_special_tokens=True)
        if text.startswith(self._anchor_text):
            return text[len(self._anchor_text):]
        return self.tok.decode(list(new_ids), skip_special_tokens=True)

    # ------------------------------------------------------------------------------------------
    def generate(self, requests: Sequence[GenerationRequest], params: GenerationParams, on_result: OnResult) -> None:
        if self.model is None:
            raise RuntimeError("model weights not loaded")
        from evalkit.backends.engine import resolve

        fast = resolve(self)
        if fast is not None:
            return fast.generate(requests, params, on_result)
        end_ids = set(self.eos_ids)
        if any(isinstance(r.prompt, FimPrompt) for r in requests):
            end_ids |= set(self.fim_layout().end_ids(self.tok))
        encoded = self.fit_window([(self.encode(r.prompt), r) for r in requests], params)
        encoded.sort(key=lambda x: -len(x[0]))  # longest first: an out-of-memory error shows at once
        if self.batch_size == "auto":
            bs = 64 if self.device != "cpu" else 8
        else:
            bs = int(self.batch_size)

        def emit(ids: list[int], req: GenerationRequest, new_ids: list[int]) -> None:
            on_result(req, self.finished(ids, req, new_ids, end_ids))

        while encoded:
            batch = _Batch(self, params, end_ids, bs, emit)
            try:
                # rows that finished leave the batch; waiting requests take their places
                batch.run(encoded)
            except self.torch.cuda.OutOfMemoryError:
                if bs == 1:
                    raise
                # what was emitted is kept; unfinished rows start again (same seeds: same text), in smaller batches
                encoded[:0] = [(ids, req) for ids, req, _, _ in batch.rows]
                batch = None
                self.torch.cuda.empty_cache()
                bs = max(1, bs // 2)

    def window(self) -> int:
        """The model's context window (``max_position_embeddings``): both engines stop a sequence that fills it."""
        from evalkit.backends.engine import window_of

        return window_of(self.model)

    def fit_window(self, encoded: list[tuple[list[int], GenerationRequest]],
                   params: GenerationParams) -> list[tuple[list[int], GenerationRequest]]:
        """Prompts longer than the window (no room for one new token): an error, or, for a request that asks for it
        (``truncate="left"``), the end of the prompt that leaves room for its token limit; one line says so."""
        w = self.window()
        out, cut = [], []
        for ids, req in encoded:
            if len(ids) >= w:
                if req.truncate != "left":
                    raise UserError(f"the prompt of {'/'.join(map(str, req.key[:2]))} has {len(ids)} tokens: it does "
                                    f"not fit the model's window of {w} positions (the task may ask for truncation)")
                keep = max(1, w - min(req.max_new_tokens or params.max_new_tokens, w // 2))
                cut.append(len(ids))
                self._truncated[req.key] = len(ids)
                ids = ids[-keep:]
            out.append((ids, req))
        if cut:
            print(f"evalkit: notice: {len(cut)} prompt(s) of up to {max(cut)} tokens left-truncated to fit the "
                  f"model's window of {w} positions", file=sys.stderr)
        return out

    def finished(self, ids: list[int], req: GenerationRequest, new_ids: list[int], end_ids: set[int]) -> Generation:
        """A finished sequence as the backend reports it (both engines): the end token dropped, the new tokens
        decoded after an anchor, and for chat/FIM prompts the exact model input; a sequence that filled the
        model's window and a truncated prompt are recorded."""
        extra: dict[str, Any] = {}
        if new_ids and new_ids[-1] in end_ids:
            new_ids = new_ids[:-1]
        elif len(ids) + len(new_ids) >= self.window():
            extra["stopped_at_window"] = self.window()
        if req.key in self._truncated:
            extra["prompt_truncated_from"] = self._truncated.pop(req.key)
        if not isinstance(req.prompt, str):
            extra["model_input"] = self.tok.decode(ids, skip_special_tokens=False)
        return Generation(text=self.decode_new(new_ids), n_tokens=len(new_ids), extra=extra)

    def _pick(self, logits: Any, params: GenerationParams, rngs: list[random.Random]) -> Any:
        torch = self.torch
        if params.greedy:
            return logits.argmax(dim=-1)
        from evalkit.backends.engine import sampling_probs

        probs = sampling_probs(logits, params)
        # float64 throughout: a draw that rounds to 1.0 in float32 would land past the last token of positive mass
        dev = "cpu" if probs.device.type == "mps" else probs.device  # MPS has no float64
        cdf = probs.to(dev, torch.float64).cumsum(dim=-1)
        u = torch.tensor([r.random() for r in rngs], dtype=torch.float64, device=dev)
        total = cdf[:, -1]
        target = torch.minimum(u * total, torch.nextafter(total, torch.zeros_like(total)))
        idx = torch.searchsorted(cdf, target.unsqueeze(-1), right=True).squeeze(-1)
        return idx.clamp_(max=probs.shape[-1] - 1).to(probs.device)

    def _stopped(self, new_ids: list[int], req: GenerationRequest, end_ids: set[int], n_prompt: int = 0) -> bool:
        if new_ids and new_ids[-1] in end_ids:
            return True
        if n_prompt + len(new_ids) >= self._window:  # the model's window is full (the fast engine's rule too)
            return True
        stops = list(req.stop) + (["\n"] if req.single_line else [])
        if not stops:
            return False
        tail = self.decode_new(new_ids[-_STOP_WINDOW:])
        return any(s in tail for s in stops)

    @staticmethod
    def _cache_of(out: Any) -> Any:
        cache = out.get("cache")
        return cache if cache is not None else out.get("past_key_values")

    @staticmethod
    def _left_pad(ids: list[list[int]], pad: int) -> tuple[list[list[int]], list[list[int]]]:
        width = max(len(x) for x in ids)
        return ([[pad] * (width - len(x)) + x for x in ids], [[0] * (width - len(x)) + [1] * len(x) for x in ids])


class _Batch:
    """One continuous batch: requests enter as others finish, so the device stays full until the last one.

    Each row keeps its own random stream and position ids; rows that finish are emitted at once and dropped
    from the KV cache; new requests are prefilled (one prefill per distinct prompt) and merged into the cache,
    left-padded to a common length. Caches of other layouts than plain per-layer key/value tensors get no
    refill: a batch then runs until its last row finishes, as a fixed batch.
    """

    def __init__(self, backend: HFBackend, params: GenerationParams, end_ids: set[int], size: int, emit: Any) -> None:
        self.b, self.params, self.end_ids, self.size, self.emit = backend, params, end_ids, size, emit
        self.torch = backend.torch
        self.dev = backend.model.device if backend.device_map else backend.device
        self.rows: list[tuple[list[int], GenerationRequest, random.Random, list[int]]] = []
        self.past: Any = None
        self.attn: Any = None
        self.last_pos: Any = None
        self.logits: Any = None

    def _prefill(self, chunk: list[tuple[list[int], GenerationRequest]]) -> tuple[Any, Any, Any, Any]:
        torch = self.torch
        distinct: dict[tuple[int, ...], int] = {}
        row_of = [distinct.setdefault(tuple(ids), len(distinct)) for ids, _ in chunk]
        padded, mask = HFBackend._left_pad([list(x) for x in distinct], self.b.tok.pad_token_id)
        attn = torch.tensor(mask, device=self.dev)
        pos = (attn.cumsum(-1) - 1).clamp(min=0)
        ids = torch.tensor(padded, device=self.dev)
        # long prompts in chunks: the attention matrix is chunk x length, never length x length; logits at the end
        width = int(os.environ.get("EVALKIT_PREFILL_CHUNK", "0")) or (2048 if self.b.device != "cpu" else 1024)
        past = None
        for s in range(0, ids.shape[1], width):
            e = min(ids.shape[1], s + width)
            more = {self.b._cache_arg: past} if past is not None else {}
            out = self.b.model(input_ids=ids[:, s:e], attention_mask=attn[:, :e], position_ids=pos[:, s:e],
                               use_cache=True, **more, **self.b._last_logits_only)
            past = HFBackend._cache_of(out)
        logits = out.logits[:, -1, :]
        if len(distinct) < len(chunk):
            expand = torch.tensor(row_of, device=self.dev)
            past.batch_select_indices(expand)
            attn, pos, logits = attn[expand], pos[expand], logits[expand]
        return past, attn, pos[:, -1], logits

    def _mergeable(self, cache: Any) -> bool:
        layers = getattr(cache, "layers", None)
        return bool(layers) and all(type(layer).__name__ == "DynamicLayer" and getattr(layer, "keys", None) is not None
                                    and layer.keys.dim() == 4 for layer in layers)

    def _merge(self, past: Any, attn: Any, last_pos: Any, logits: Any) -> None:
        """Append prefilled rows to the running batch, left-padding the shorter side's cache and mask."""
        torch = self.torch
        cur, new = self.attn.shape[1], attn.shape[1]
        width = max(cur, new)

        def pad(t: Any, by: int, dim: int) -> Any:
            if by == 0:
                return t
            shape = list(t.shape)
            shape[dim] = by
            return torch.cat([t.new_zeros(shape), t], dim=dim)

        for old_layer, new_layer in zip(self.past.layers, past.layers):
            for name in ("keys", "values"):
                a = pad(getattr(old_layer, name), width - cur, 2)
                b = pad(getattr(new_layer, name), width - new, 2)
                setattr(old_layer, name, torch.cat([a, b], dim=0))
        self.attn = torch.cat([pad(self.attn, width - cur, 1), pad(attn, width - new, 1)], dim=0)
        self.last_pos = torch.cat([self.last_pos, last_pos])
        self.logits = torch.cat([self.logits, logits])

    def _admit(self, waiting: list[tuple[list[int], GenerationRequest]]) -> None:
        take = waiting[: self.size - len(self.rows)]
        past, attn, last_pos, logits = self._prefill(take)
        if self.past is None:
            self.past, self.attn, self.last_pos, self.logits = past, attn, last_pos, logits
        else:
            self._merge(past, attn, last_pos, logits)
        del waiting[: len(take)]  # only once they are in the batch (an out-of-memory error keeps them waiting)
        self.rows += [(ids, req, random.Random(req.seed), []) for ids, req in take]

    def run(self, waiting: list[tuple[list[int], GenerationRequest]]) -> None:
        """Generate until ``waiting`` is empty (items are removed as they enter the batch)."""
        torch, b, params = self.torch, self.b, self.params
        with torch.inference_mode():
            self._admit(waiting)
            refill = self._mergeable(self.past)
            while self.rows:
                nxt = b._pick(self.logits, params, [r[2] for r in self.rows])
                keep = []
                for i, (row, t) in enumerate(zip(self.rows, nxt.tolist())):
                    ids, req, _, new = row
                    new.append(t)
                    cap = req.max_new_tokens or params.max_new_tokens
                    if b._stopped(new, req, self.end_ids, len(ids)) or len(new) >= cap:
                        self.emit(ids, req, new)
                    else:
                        keep.append(i)
                if len(keep) < len(self.rows):
                    if not keep and not (refill and waiting):
                        self.rows = []  # all emitted; a fixed batch ends here (the caller starts the next)
                        break
                    sel = torch.tensor(keep, device=self.dev, dtype=torch.long)
                    self.past.batch_select_indices(sel)
                    self.attn, self.last_pos, nxt = self.attn[sel], self.last_pos[sel], nxt[sel]
                    self.rows = [self.rows[i] for i in keep]
                if self.rows:
                    self.attn = torch.cat([self.attn, self.attn.new_ones((len(self.rows), 1))], dim=-1)
                    self.last_pos = self.last_pos + 1
                    out = b.model(input_ids=nxt.unsqueeze(-1), attention_mask=self.attn,
                                  position_ids=self.last_pos.unsqueeze(-1), use_cache=True,
                                  **{b._cache_arg: self.past})
                    self.past, self.logits = HFBackend._cache_of(out), out.logits[:, -1, :]
                free = self.size - len(self.rows)
                if waiting and refill and (not self.rows or free >= max(1, self.size // 4)):
                    if not self.rows:
                        self.past = None
                    self._admit(waiting)
