"""Attention the ONNX exporters take: ``scaled_dot_product_attention`` on 4-D tensors only.

``torch.export``'s ONNX translation of SDPA asserts 4-D query, key and value; Hiera (timm) attends over
5-D ones (batch, units, heads, tokens, width), and its other exporter, TorchScript, stops earlier at an
antialiased bicubic resize, so no exporter wrote it. Extra leading axes are only more batch: while the
exporter traces, SDPA folds them into the first axis and unfolds them after, which computes the same.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch.nn import functional as F


@contextmanager
def attention_in_four_dims() -> Iterator[None]:
    """``F.scaled_dot_product_attention`` with leading axes past the 4th folded into the batch, for
    the duration (the exporter traces through it; nothing changes for 4-D inputs)."""
    original = F.scaled_dot_product_attention

    def four_dims(query, key, value, attn_mask=None, *args, **kwargs):
        if query.dim() <= 4:
            return original(query, key, value, attn_mask, *args, **kwargs)
        lead = query.shape[:-3]

        def fold(t: torch.Tensor, last: tuple) -> torch.Tensor:
            return t.expand(*lead, *last).reshape(-1, *last)

        key, value = fold(key, key.shape[-3:]), fold(value, value.shape[-3:])
        if attn_mask is not None:
            attn_mask = fold(attn_mask, (query.shape[-3], query.shape[-2], key.shape[-2]))
        out = original(fold(query, query.shape[-3:]), key, value, attn_mask, *args, **kwargs)
        return out.reshape(*lead, *out.shape[-3:])

    F.scaled_dot_product_attention = four_dims
    try:
        yield
    finally:
        F.scaled_dot_product_attention = original
