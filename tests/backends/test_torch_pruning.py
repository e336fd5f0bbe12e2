"""The one adapter over Torch-Pruning: its group lookup answers as the scan does; its mapping fixes keep channels
where Torch-Pruning lost them."""

import torch
from torchvision.models import resnet18

from torchslim.backends.torch_pruning import indexed_group_lookup


def test_the_indexed_group_lookup_answers_as_the_scan_does():
    import torch_pruning as tp

    indexed_group_lookup()
    model = resnet18(num_classes=10).eval()
    graph = tp.DependencyGraph().build_dependency(model, example_inputs=torch.zeros(1, 3, 32, 32))
    group = graph.get_pruning_group(model.layer1[0].conv1, tp.prune_conv_out_channels, idxs=[0, 1, 2])
    assert len(group) > 2
    for dep, idxs in group:
        assert group.has_pruning_op(dep, idxs)
        assert not group.has_pruning_op(dep, idxs[:-1])  # other indices on the same layer: not held
    first_dep, first_idxs = group[0]
    group[0] = (first_dep, first_idxs[:1])  # replacing an item drops the table
    assert group.has_pruning_op(first_dep, first_idxs[:1]) and not group.has_pruning_op(first_dep, first_idxs)


class ChannelsLastSubsample(torch.nn.Module):
    """LeViT's subsampled queries: tokens viewed as a channels-last grid, every other row and column kept."""

    def __init__(self):
        super().__init__()
        self.a, self.b, self.head = torch.nn.Linear(8, 16), torch.nn.Linear(16, 16), torch.nn.Linear(16, 4)

    def forward(self, x):
        x = self.a(x)
        b, c = x.shape[0], x.shape[-1]
        x = x.view(b, 4, 4, c)[:, ::2, ::2].reshape(b, -1, c)
        return self.head(self.b(x).mean(1))


def test_a_strided_slice_of_rows_keeps_every_channel_in_the_group():
    from torchslim.backends.torch_pruning import make_importance, nearest_rounding_pruner

    torch.manual_seed(0)
    model = ChannelsLastSubsample().eval()
    x = torch.randn(2, 16, 8)
    pruner = nearest_rounding_pruner()(
        model, x, importance=make_importance("l1"), pruning_ratio=0.5, ignored_layers=[model.head, model.b]
    )
    pruner.step()
    assert (model.a.out_features, model.b.in_features) == (8, 8)
    assert model(x).shape == (2, 4)
