"""pytorch/examples ``fast_neural_style``: ``TransformerNet`` imported from a checkout and the
benchmark runner (``neural_style.py stylize``'s per-image work with our weights).

``path`` is the pytorch/examples checkout (or its ``fast_neural_style`` folder, or that
folder's ``neural_style`` folder). Our ``TransformerNet`` has the official module names, so the
weights are our ``transformer.*`` entries without the prefix (no ``running_*`` keys: nothing to
delete as ``stylize`` does for old files)."""

import contextlib
import os
import types

import torch

from tests.official import _patch

__all__ = ["official_fast_neural_style", "official_transformer_net", "runner"]

TOP_LEVEL = ("transformer_net", "utils", "vgg", "neural_style")


def _code_dir(path):
    for sub in ("", "neural_style", os.path.join("fast_neural_style", "neural_style")):
        folder = os.path.join(str(path), sub)
        if os.path.isfile(os.path.join(folder, "transformer_net.py")):
            return folder
    raise FileNotFoundError(
        f"{path!r} is not a checkout of pytorch/examples: no "
        "fast_neural_style/neural_style/transformer_net.py under it"
    )


@contextlib.contextmanager
def official_fast_neural_style(path):
    """``transformer_net``, ``utils`` and ``neural_style`` (the module defining ``stylize``)
    from the checkout at ``path``; yields a namespace. ``sys.path`` / ``sys.modules`` restored on
    exit (``utils`` / ``vgg`` are common names: isolated)."""
    folder = _code_dir(path)
    with _patch.official_code(folder, isolate=TOP_LEVEL):
        import neural_style
        import transformer_net
        import utils

        yield types.SimpleNamespace(
            TransformerNet=transformer_net.TransformerNet, utils=utils,
            neural_style=neural_style, path=folder,
        )  # fmt: skip


def official_transformer_net(ns, cfg, model):
    """The official ``TransformerNet()`` (fixed: 3 -> 3 channels, 32 filters, 5 residual
    blocks) with our ``transformer.*`` weights (strict), eval mode, on MODEL.DEVICE; other sizes
    are refused."""
    g = cfg.MODEL.GAN
    official = {"GENERATOR": "TransformerNet", "NGF": 32, "N_BLOCKS": 5}
    official.update(INPUT_NC=3, OUTPUT_NC=3)
    wrong = {k: g[k] for k, v in official.items() if g[k] != v}
    if wrong:
        raise ValueError(
            f"--official (pytorch/examples fast_neural_style): MODEL.GAN {wrong}; the official "
            f"TransformerNet() is fixed at {official}"
        )
    net = ns.TransformerNet()
    prefix = "transformer."
    state = {k[len(prefix) :]: v.detach().cpu() for k, v in model.state_dict().items()
             if k.startswith(prefix)}  # fmt: skip
    net.load_state_dict(state, strict=True)
    net.eval()
    return net.to(torch.device(cfg.MODEL.DEVICE))


@contextlib.contextmanager
def runner(path, cfg, model, image):
    """``stylize``'s per-image work with our weights in the official ``TransformerNet``: the
    PIL RGB image of the BGR array (``load_image`` without ``--content-scale``),
    ``ToTensor()`` then ``mul(255)``, a batch of one on MODEL.DEVICE, ``no_grad`` forward,
    ``.cpu()``, and ``save_image``'s conversion (``clamp(0, 255)``, HWC, ``astype("uint8")``,
    PIL image) without the file write. ``run()`` returns that H×W×3 RGB uint8 array."""
    import numpy as np
    from PIL import Image
    from torchvision import transforms

    with official_fast_neural_style(path) as ns:
        net = official_transformer_net(ns, cfg, model)
        device = torch.device(cfg.MODEL.DEVICE)
        content_transform = transforms.Compose(
            [transforms.ToTensor(), transforms.Lambda(lambda x: x.mul(255))]
        )
        rgb = image[:, :, ::-1]

        def run():
            content = content_transform(Image.fromarray(rgb)).unsqueeze(0).to(device)
            with torch.no_grad():
                output = net(content).cpu()
            img = output[0].clone().clamp(0, 255).numpy().transpose(1, 2, 0).astype("uint8")
            return np.asarray(Image.fromarray(img))

        yield run
