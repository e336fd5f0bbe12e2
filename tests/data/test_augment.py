import torch

from torchslim.data.augment import apply_augment, draw_augment
from torchslim.data.base import Augment


def test_random_crop_keeps_shape_and_moves_content():
    x = torch.arange(2 * 1 * 4 * 4, dtype=torch.uint8).view(2, 1, 4, 4)
    g = torch.Generator().manual_seed(0)
    aug = Augment(pad=2)
    crops = [apply_augment(x, aug, draw_augment(2, aug, g)) for _ in range(10)]
    assert all(c.shape == x.shape for c in crops)
    assert any(not torch.equal(c, x) for c in crops)


def test_the_same_draws_give_the_same_batch():
    x = torch.randint(0, 255, (8, 3, 6, 6), dtype=torch.uint8)
    aug = Augment(pad=1, flip=True)
    draws = draw_augment(8, aug, torch.Generator().manual_seed(5))
    assert torch.equal(apply_augment(x, aug, draws), apply_augment(x.clone(), aug, draws))
    assert all(d is not None and len(d) == 8 for d in draws)
