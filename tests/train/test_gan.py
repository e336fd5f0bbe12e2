"""Adversarial training: both networks learn, and a run resumed from an epoch checkpoint ends with the
same weights as a straight run (latents and data order are seeded by (seed, epoch))."""

import pytest
import torch

from torchslim.data.base import ArraySplit, Augment, DataBundle, DatasetInfo
from torchslim.errors import TrainingDivergedError
from torchslim.models.dcgan import DCGANDiscriminator, DCGANGenerator
from torchslim.train.determinism import configure
from torchslim.train.gan import GanTrainConfig, fit_gan


def tiny_images(n: int = 24) -> DataBundle:
    g = torch.Generator().manual_seed(0)
    split = ArraySplit(torch.randint(0, 256, (n, 3, 32, 32), dtype=torch.uint8, generator=g), torch.zeros(n).long())
    info = DatasetInfo("tiny", 1 + 1, 3, 32, (0.5,) * 3, (0.5,) * 3, Augment(), "test", "")
    return DataBundle(info, split, split)


def nets(seed: int = 0):
    configure(seed, True, 1)
    return DCGANGenerator(nz=8, ngf=4), DCGANDiscriminator(ndf=4)


def test_training_moves_both_networks_and_records_each_epoch(tmp_path):
    g, d = nets()
    before = [p.clone() for p in (*g.parameters(), *d.parameters())]
    result = fit_gan(g, d, tiny_images(), GanTrainConfig(epochs=2, batch_size=8), seed=0)
    assert [h["epoch"] for h in result.history] == [1, 2]
    assert all(h["images"] == 24 and h["d_loss"] > 0 and h["g_loss"] > 0 for h in result.history)
    after = [*g.parameters(), *d.parameters()]
    assert all(not torch.equal(a, b) for a, b in zip(before, after))
    assert not g.training and not d.training


def test_a_resumed_run_ends_where_a_straight_run_does(tmp_path):
    data = tiny_images()
    g1, d1 = nets()
    fit_gan(g1, d1, data, GanTrainConfig(epochs=2, batch_size=8), seed=3)

    g2, d2 = nets()
    ckpt = tmp_path / "gan.pt"
    fit_gan(g2, d2, data, GanTrainConfig(epochs=1, batch_size=8), seed=3, checkpoint=ckpt)  # "killed" after epoch 1
    g3, d3 = nets(seed=99)  # fresh processes' weights do not matter: the checkpoint replaces them
    result = fit_gan(g3, d3, data, GanTrainConfig(epochs=2, batch_size=8), seed=3, checkpoint=ckpt)
    assert result.resumed_from_epoch == 1 and len(result.history) == 2
    for a, b in zip(g1.state_dict().values(), g3.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_divergence_stops_in_one_line():
    g, d = nets()
    with torch.no_grad():
        d.net[0].weight.fill_(float("nan"))
    with pytest.raises(TrainingDivergedError, match="GAN training diverged at epoch 1, step 1"):
        fit_gan(g, d, tiny_images(), GanTrainConfig(epochs=1, batch_size=8), seed=0)
