"""The one adapter over Torch-Pruning: its fixes change how fast groups are built, never which."""

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
