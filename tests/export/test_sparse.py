import torch

from torchslim.export.sparse import decode, encode


def test_round_trip_is_exact_and_small_tensors_stay_dense():
    w = torch.randn(64, 64)
    w[w.abs() < 1.0] = 0
    state = {"w": w, "b": torch.zeros(8), "n": torch.tensor(3)}
    blob = encode(state)
    assert set(blob["sparse"]) == {"w"} and set(blob["dense"]) == {"b", "n"}
    back = decode(blob)
    assert all(torch.equal(back[k], v) for k, v in state.items())


def test_dense_tensors_are_not_encoded():
    assert encode({"w": torch.randn(64, 64)})["sparse"] == {}
