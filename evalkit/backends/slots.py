"""The fast engine's slot cache and its attention, plugged into transformers models.

* ``SlotLayer`` / ``SlotCache``: a transformers Cache over preallocated per-layer tensors ``[slots, kv_heads,
  max_len, head_dim]``. In a decode step each row writes its new key/value at its own position; in a prefill
  chunk the rows (left-padded prompts) write the whole chunk at their real positions with one ``index_put_`` per
  layer (pad tokens go to a scratch position that is always written again before it is read).
* ``attention``: registered in transformers' ``AttentionInterface`` as ``evalkit_slots`` and switched on only
  for the engine's own forward calls (``engaged``); it reads what the engine set in ``CTX``:
  - decode, ``flex``: FlexAttention with a block mask built from each row's real length (blocks of
    ``KV_BLOCK`` columns: a row reads ceil(len / KV_BLOCK) blocks), GQA without expanding K/V;
  - decode, ``sdpa`` (the fallback): SDPA over the first ``kv_len`` columns with a per-row length mask, GQA packed
    as transformers' ``pack_gqa`` does (the query heads of one K/V head become that head's query rows);
  - prefill: SDPA of the chunk's queries against the rows' keys up to the chunk's end, with a per-row causal mask
    (the attention matrix is chunk x length, never length x length).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Any

NAME = "evalkit_slots"
KV_BLOCK = 16  # FlexAttention's key/value block for decode: a row reads its length rounded up to this


@dataclass
class Context:
    mode: str = ""  # "decode" | "prefill" | "" (inactive: plain SDPA, as the model would do)
    kind: str = "sdpa"  # decode attention: "flex" | "sdpa"
    lens: Any = None  # decode: [n] real lengths (position + 1; idle rows 1)
    kv_len: int = 0  # decode sdpa: columns attended
    qpos: Any = None  # prefill: [b, C] the real position of each query (pads: 0)
    flex: Any = None  # decode flex: the BlockMask of this step
    extra: dict = field(default_factory=dict)


CTX = Context()


def _sdpa(query: Any, key: Any, value: Any, mask: Any, scaling: float | None) -> Any:
    import torch

    return torch.nn.functional.scaled_dot_product_attention(query, key, value, attn_mask=mask, scale=scaling,
                                                            enable_gqa=query.shape[1] != key.shape[1])


def attention(module: Any, query: Any, key: Any, value: Any, attention_mask: Any, scaling: float | None = None,
              dropout: float = 0.0, **kwargs: Any) -> tuple[Any, None]:
    """query [b, H, q, d], key/value [b, KVH, kv, d] -> ([b, q, H, d], None)."""
    import torch

    if CTX.mode == "decode":
        n, h, _, d = query.shape
        kvh = key.shape[1]
        if CTX.kind == "flex":
            from torch.nn.attention.flex_attention import flex_attention

            fn = CTX.extra.get("flex_fn", flex_attention)
            out = fn(query, key, value, block_mask=CTX.flex, scale=scaling, enable_gqa=h != kvh)
            return out.transpose(1, 2).contiguous(), None
        k, v = key[:, :, : CTX.kv_len], value[:, :, : CTX.kv_len]
        cols = torch.arange(CTX.kv_len, device=query.device)
        mask = (cols[None, :] < CTX.lens[:, None])[:, None, None, :]  # [n, 1, 1, kv_len]: all heads alike
        q = query.reshape(n, kvh, h // kvh, d)  # GQA packed: no K/V copy
        out = torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=mask, scale=scaling)
        return out.reshape(n, h, 1, d).transpose(1, 2).contiguous(), None
    if CTX.mode == "prefill":
        cols = torch.arange(key.shape[2], device=query.device)
        mask = (cols[None, None, :] <= CTX.qpos[:, :, None])[:, None]  # [b, 1, C, kv]
        out = _sdpa(query, key, value, mask, scaling)
        return out.transpose(1, 2).contiguous(), None
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    return sdpa_attention_forward(module, query, key, value, attention_mask, dropout=dropout, scaling=scaling,
                                  **kwargs)


def register() -> None:
    """``evalkit_slots`` in transformers' AttentionInterface (no mask function: masking_utils then builds no mask
    for the engine's calls, the attention reads the lengths from CTX)."""
    from transformers import AttentionInterface

    AttentionInterface.register(NAME, attention)


@contextlib.contextmanager
def engaged(model: Any, mode: str, **ctx: Any) -> Any:
    """The model's attention is ``attention`` in ``mode`` for the duration (restored after, also on errors)."""
    cfg = model.config
    before = cfg._attn_implementation
    saved = (CTX.mode, CTX.lens, CTX.kv_len, CTX.qpos, CTX.flex)
    CTX.mode = mode
    for k, v in ctx.items():
        setattr(CTX, k, v)
    if before != NAME:
        cfg._attn_implementation = NAME
    try:
        yield CTX
    finally:
        CTX.mode, CTX.lens, CTX.kv_len, CTX.qpos, CTX.flex = saved
        if before != NAME:
            cfg._attn_implementation = before


def flex_block_mask(lens: Any, max_len: int) -> Any:
    """A BlockMask for one query per row over ``max_len`` columns where row r sees its first lens[r] columns:
    ceil(lens[r] / KV_BLOCK) blocks listed, the last one cut by the mask function. Tensor ops only."""
    import torch
    from torch.nn.attention.flex_attention import BlockMask

    n = lens.shape[0]
    blocks = max_len // KV_BLOCK
    num = ((lens + KV_BLOCK - 1) // KV_BLOCK).to(torch.int32).view(n, 1, 1)
    idx = torch.arange(blocks, device=lens.device, dtype=torch.int32).expand(n, 1, 1, blocks)

    def within(b: Any, h: Any, q: Any, kv: Any) -> Any:
        return kv < lens[b]

    try:  # decode only: no transposed (backward) block lists to keep in step with ``refresh_block_mask``
        return BlockMask.from_kv_blocks(num, idx, BLOCK_SIZE=(1, KV_BLOCK), mask_mod=within,
                                        seq_lengths=(1, max_len), compute_q_blocks=False)
    except TypeError:  # older torch
        return BlockMask.from_kv_blocks(num, idx, BLOCK_SIZE=(1, KV_BLOCK), mask_mod=within,
                                        seq_lengths=(1, max_len))


def refresh_block_mask(mask: Any, lens: Any) -> Any:
    """The same BlockMask for new lengths, in place (its mask function reads ``lens``' storage): one object per
    batch bucket for the run, so a compiled step sees the same mask object at every call (no recompile)."""
    import torch

    mask.kv_num_blocks.copy_(((lens + KV_BLOCK - 1) // KV_BLOCK).to(torch.int32).view(-1, 1, 1))
    return mask


def columns_read(lens: list[int], kind: str, kv_len: int) -> int:
    """Key/value columns the decode attention reads for rows of these lengths (the proxy of issue 22)."""
    if kind == "flex":
        return sum(-(-n // KV_BLOCK) * KV_BLOCK for n in lens)
    return len(lens) * kv_len


def cache_classes() -> tuple[type, type]:
    from transformers.cache_utils import Cache, CacheLayerMixin

    class SlotLayer(CacheLayerMixin):
        """Decode: ``pos`` [b] (one new token per row). Prefill: ``slots`` [b] and ``wpos`` [b, C] (the chunk's
        write positions) and ``end`` (keys returned: columns [0, end) of those slots)."""

        is_sliding = False
        is_compileable = True

        def __init__(self, keys: Any, values: Any, pos: Any = None, slots: Any = None, wpos: Any = None,
                     end: int = 0, first: int | None = None) -> None:
            super().__init__()
            self.keys, self.values, self.pos = keys, values, pos
            self.slots, self.wpos, self.end, self.first = slots, wpos, end, first
            self.is_initialized = True
            self.device, self.dtype = keys.device, keys.dtype

        def lazy_initialization(self, key_states: Any, value_states: Any) -> None:  # preallocated
            pass

        def update(self, key_states: Any, value_states: Any, *args: Any, **kwargs: Any) -> tuple[Any, Any]:
            if self.wpos is None:
                b, h, q, d = key_states.shape
                if q != 1:
                    raise RuntimeError("the slot cache takes one new token per row in decode")
                index = self.pos.view(b, 1, 1, 1).expand(b, h, 1, d)
                self.keys.scatter_(2, index, key_states.to(self.keys.dtype))
                self.values.scatter_(2, index, value_states.to(self.values.dtype))
                return self.keys, self.values
            rows = self.slots[:, None].expand_as(self.wpos)
            out = []
            for store, new in ((self.keys, key_states), (self.values, value_states)):
                # [S, L, KVH, d] view: one index_put_ writes every row's chunk at its positions
                store.permute(0, 2, 1, 3).index_put_((rows, self.wpos), new.permute(0, 2, 1, 3).to(store.dtype))
                if self.first is not None:  # consecutive slots: a view, no copy
                    out.append(store[self.first: self.first + rows.shape[0], :, : self.end])
                else:
                    out.append(store[:, :, : self.end].index_select(0, self.slots))
            return out[0], out[1]

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
