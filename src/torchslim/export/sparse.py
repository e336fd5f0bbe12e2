"""A sparse tensor encoding whose files really shrink: a bitmask plus the non-zero values.

Dense float32 costs 32 bits per weight; this costs 1 bit per weight plus 32 bits per non-zero, so
at 70 % sparsity a tensor takes about 33 % of its dense size. Tensors that are small or not
sparse enough to gain are stored dense. Everything is plain tensors: loadable with weights_only.
"""

from __future__ import annotations

import numpy as np
import torch

from torchslim.errors import CheckpointError
from torchslim.export.untrusted import check_tensors, sparse_elements

MIN_ELEMENTS = 1024
MIN_SPARSITY = 0.10  # below this the mask costs more than it saves


def encode(state: dict[str, torch.Tensor]) -> dict[str, dict]:
    dense, sparse = {}, {}
    for name, t in state.items():
        zeros = int((t == 0).sum()) if t.is_floating_point() else 0
        if t.is_floating_point() and t.numel() >= MIN_ELEMENTS and zeros / t.numel() >= MIN_SPARSITY:
            flat = t.detach().reshape(-1)
            mask = flat != 0
            bits = torch.from_numpy(np.packbits(mask.numpy()))
            sparse[name] = {"shape": tuple(t.shape), "mask": bits, "values": flat[mask].clone()}
        else:
            dense[name] = t.detach().contiguous()
    return {"dense": dense, "sparse": sparse}


def decode(blob: dict[str, dict]) -> dict[str, torch.Tensor]:
    """The state dict, once the shapes the file declares agree with the data it holds (a file of a
    few bytes cannot ask for a tensor of billions of elements)."""
    check_tensors(blob)
    state = dict(blob["dense"])
    for name, entry in blob["sparse"].items():
        n = sparse_elements(name, entry)
        mask = torch.from_numpy(np.unpackbits(entry["mask"].numpy())[:n].astype(bool))
        if int(mask.sum()) != entry["values"].numel():
            raise CheckpointError(
                f"tensors.sparse.{name}: its mask keeps {int(mask.sum()):,} elements but it holds "
                f"{entry['values'].numel():,} values"
            )
        flat = torch.zeros(n, dtype=entry["values"].dtype)
        flat[mask] = entry["values"]
        state[name] = flat.view(tuple(entry["shape"]))
    return state
