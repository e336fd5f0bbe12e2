"""Any torchvision or timm classification model, built with random weights and adapted in shape.

Weights are never downloaded (``weights=None`` / ``pretrained=False``); use ``checkpoint:`` for
local weights. The class count is passed to the builder; the input channel count is passed to timm
(``in_chans``) and patched into torchvision's first convolution.
"""

from __future__ import annotations

from torch import nn

from torchslim.errors import UnknownNameError
from torchslim.models.base import MODELS, InputSpec


def _replace_first_conv(model: nn.Module, in_channels: int) -> None:
    for parent in model.modules():
        for name, child in parent.named_children():
            if isinstance(child, nn.Conv2d):
                if child.in_channels != in_channels:
                    setattr(
                        parent,
                        name,
                        nn.Conv2d(
                            in_channels,
                            child.out_channels,
                            child.kernel_size,
                            child.stride,
                            child.padding,
                            child.dilation,
                            child.groups if child.groups == 1 else in_channels,
                            child.bias is not None,
                        ),
                    )
                return


def did_you_mean(prefix: str, close: list[str]) -> str:
    """`` Did you mean timm:a, timm:b?``, or nothing when no name is close."""
    return f" Did you mean {', '.join(f'{prefix}:{c}' for c in close)}?" if close else ""


@MODELS.register_prefix("torchvision", default_dataset="cifar10")
def torchvision_model(spec: InputSpec, name: str, **kw) -> nn.Module:
    """torchvision:NAME, any torchvision classification model, random init, adapted to the dataset."""
    import torchvision.models as tvm

    available = tvm.list_models(module=tvm)
    if name not in available:
        import difflib

        close = difflib.get_close_matches(name, available, n=3)
        raise UnknownNameError(
            f"unknown model 'torchvision:{name}'.{did_you_mean('torchvision', close)} "
            f"Valid choices: torchvision.models.list_models() ({len(available)} names)"
        )
    if name.startswith("vit_") and "image_size" not in kw:
        kw["image_size"] = spec.image_size
    model = tvm.get_model(name, weights=None, num_classes=spec.num_classes, **kw)
    _replace_first_conv(model, spec.in_channels)
    return model


@MODELS.register_prefix("timm", default_dataset="cifar10")
def timm_model(spec: InputSpec, name: str, **kw) -> nn.Module:
    """timm:NAME, any timm model, random init (pretrained=False), in_chans/num_classes/img_size adapted."""
    import timm

    if not timm.is_model(name):
        import difflib

        close = difflib.get_close_matches(name, timm.list_models(), n=3)
        raise UnknownNameError(
            f"unknown model 'timm:{name}'.{did_you_mean('timm', close)} "
            f"Valid choices: timm.list_models() ({len(timm.list_models())} names)"
        )
    args = dict(pretrained=False, num_classes=spec.num_classes, in_chans=spec.in_channels, **kw)
    try:
        return timm.create_model(name, img_size=spec.image_size, **args)
    except TypeError:  # models without a configurable input size
        return timm.create_model(name, **args)
