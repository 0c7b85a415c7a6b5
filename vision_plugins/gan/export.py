"""Export of the image-to-image generators (Pix2Pix, CycleGAN; their specs' exporters).

One graph per generator, named after it (``netG``; CycleGAN ``netG_A`` and ``netG_B``):
``images`` (1, C, H, W) in [-1, 1] (``TranslationModel.normalize``: the official network input)
-> ``pixels`` (1, C', H, W) 0..255 (the generator and ``to_pixels``). H / W are dynamic for
generators that take any size (ResNet generators; the U-Net needs multiples of 2^depth and is
exported at the test transform's crop size). The Python around the graphs is the model's own
``translate(batched_inputs, run)``: the eager inference calls it with :func:`eager_generators`.

Eval mode only: ``MODEL.GAN.TEST_TRAIN_MODE = True`` (the official test without ``--eval``:
dropout drawn at random, BatchNorm on the test batch) cannot give a deterministic graph; the
exporter refuses it for generators with dropout or BatchNorm (naming the key) and accepts it for
those without (instance-norm generators: train and eval mode compute the same).
"""

import torch
from torch import nn

from ..export import Exportable, ExportGraph
from .networks import UnetGenerator

__all__ = ["eager_generators", "GeneratorGraph", "TranslationExportable"]


def eager_generators(model):
    """``run(net_name, images) -> (pixels,)`` on ``model``'s own networks: the ``run`` of
    ``translate`` on the eager path."""

    def run(name, images):
        return (model.to_pixels(getattr(model, name)(images)),)

    return run


class GeneratorGraph(nn.Module):
    def __init__(self, model, name):
        super().__init__()
        self.model, self.name = model, name
        self.net = getattr(model, name)

    def forward(self, images):
        return eager_generators(self.model)(self.name, images)


def _stochastic_in_train_mode(net):
    return [
        type(m).__name__
        for m in net.modules()
        if (isinstance(m, nn.Dropout) and m.p > 0)
        or (isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats)
    ]


class TranslationExportable(Exportable):
    """``inputs``: ``[(generator name, input channels)]`` in ``translate``'s order."""

    def __init__(self, model, cfg, inputs):
        self.model = model.eval()
        size = cfg.INPUT.GAN.CROP_SIZE
        g = torch.Generator().manual_seed(0)
        graphs = []
        for name, channels in inputs:
            net = getattr(model, name)
            modules = _stochastic_in_train_mode(net)
            if model.test_train_mode and modules:
                raise ValueError(
                    f"export {name}: MODEL.GAN.TEST_TRAIN_MODE=True runs its "
                    f"{sorted(set(modules))} in training mode (random dropout / test-batch "
                    "statistics), which no exported graph reproduces; export with "
                    "MODEL.GAN.TEST_TRAIN_MODE False (eval mode, the official test.py --eval)"
                )
            unet = isinstance(net, UnetGenerator)

            def example(h, w):
                return (torch.rand(1, channels, h, w, generator=g) * 2 - 1,)

            graphs.append(
                ExportGraph(
                    name=name,
                    module=GeneratorGraph(self.model, name).eval(),
                    example_inputs=example(size, size),
                    input_names=["images"],
                    output_names=["pixels"],
                    dynamic_axes=None if unet else {"images": {2: "height", 3: "width"}},
                    check_inputs=[example(size, size)]
                    + ([] if unet else [example(size // 2 + 4, size + 12)]),
                    rtol=0,
                    atol=5e-3,  # 0..255 pixel values (float32 rounding through the generator)
                    onnx_dynamo=False,  # the faster exporter; dynamic H / W checked at 2 sizes
                )
            )
        meta = {"input": "images in [-1, 1] (TranslationModel.normalize)", "crop_size": size,
                "dynamic_size": not any(g.dynamic_axes is None for g in graphs)}  # fmt: skip
        super().__init__(graphs, meta)

    def __call__(self, batched_inputs, run):
        return [out for x in batched_inputs for out in self.model.translate([x], run)]
