import torch

from torchslim.data import BatchLoader, DatasetConfig, build_dataset


def test_epoch_order_depends_on_seed_and_epoch_only():
    b = build_dataset(DatasetConfig(name="digits"))
    a = BatchLoader(b.train, b.info, 32, train=True, seed=3)
    c = BatchLoader(b.train, b.info, 32, train=True, seed=3)
    a.set_epoch(2), c.set_epoch(2)
    xa, ya = next(iter(a))
    xc, yc = next(iter(c))
    assert torch.equal(xa, xc) and torch.equal(ya, yc)
    c.set_epoch(3)
    assert not torch.equal(next(iter(c))[1], ya)


def test_eval_loader_covers_every_image_once_normalised():
    b = build_dataset(DatasetConfig(name="digits"))
    loader = BatchLoader(b.eval, b.info, 100)
    seen = torch.cat([y for _, y in loader])
    assert torch.equal(seen, b.eval.labels)
    x = torch.cat([x for x, _ in loader])
    assert abs(float(x.mean())) < 0.5 and x.dtype == torch.float32
