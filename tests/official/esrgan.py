"""xinntao/ESRGAN: ``RRDBNet_arch`` imported from a checkout and the benchmark runner
(``test.py``'s per-image work with our RRDBNet weights).

Our ``RRDBNet`` has the module names of ``RRDBNet_arch.RRDBNet`` (``conv_first``,
``RRDB_trunk.N.RDBk.convj``, ``trunk_conv``, ``upconv1/2``, ``HRconv``, ``conv_last``), so the
generator's weights are our ``netG.*`` entries without the prefix. ``test.py`` is a script (it
runs at import), so its per-image steps are re-expressed in :func:`runner`, not imported."""

import contextlib
import os
import types

import numpy as np
import torch

from tests.official import _patch

__all__ = ["official_esrgan", "generator_state", "runner"]


def _check_checkout(path):
    if not os.path.isfile(os.path.join(str(path), "RRDBNet_arch.py")):
        raise FileNotFoundError(
            f"{path!r} is not a checkout of xinntao/ESRGAN: no RRDBNet_arch.py in it"
        )


@contextlib.contextmanager
def official_esrgan(path):
    """``RRDBNet_arch`` from the checkout at ``path``; yields a namespace (``arch``,
    ``RRDBNet``, ``path``). ``sys.path`` / ``sys.modules`` are restored on exit."""
    _check_checkout(path)
    with _patch.official_code(path, isolate=("RRDBNet_arch",)):
        import RRDBNet_arch

        yield types.SimpleNamespace(
            arch=RRDBNet_arch, RRDBNet=RRDBNet_arch.RRDBNet, path=os.path.abspath(path)
        )


def generator_state(model, prefix="netG."):
    """Our model's generator weights without ``prefix`` (tensors detached, on the CPU)."""
    return {
        k[len(prefix) :]: v.detach().cpu()
        for k, v in model.state_dict().items()
        if k.startswith(prefix)
    }


def official_rrdbnet(ns, cfg, model):
    """The official ``RRDBNet(in_nc, out_nc, nf, nb, gc=gc)`` for our config, our generator's
    weights loaded strictly, in eval mode on MODEL.DEVICE. Refuses what ``RRDBNet_arch`` cannot
    build (other generators, scales other than 4)."""
    g = cfg.MODEL.GAN
    if g.GENERATOR != "RRDBNet":
        raise ValueError(
            f"--official (xinntao/ESRGAN): MODEL.GAN.GENERATOR={g.GENERATOR!r}; the official "
            "RRDBNet_arch.py has RRDBNet only"
        )
    if cfg.INPUT.SR.SCALE != 4:
        raise ValueError(
            f"--official (xinntao/ESRGAN): INPUT.SR.SCALE={cfg.INPUT.SR.SCALE}; RRDBNet_arch's "
            "RRDBNet is x4 only"
        )
    net = ns.RRDBNet(g.INPUT_NC, g.OUTPUT_NC, g.NGF, g.N_BLOCKS, gc=g.GROWTH_CHANNELS)
    net.load_state_dict(generator_state(model), strict=True)
    net.eval()
    return net.to(torch.device(cfg.MODEL.DEVICE))


@contextlib.contextmanager
def runner(path, cfg, model, image):
    """``test.py``'s per-image work with our generator's weights in the official ``RRDBNet``:
    the BGR uint8 image ``* 1.0 / 255`` (float64), channels reversed to RGB, CHW float32, a batch
    of one on MODEL.DEVICE; ``no_grad`` forward; ``squeeze``, float, CPU, ``clamp_(0, 1)``;
    back to HWC BGR, ``* 255`` and ``round()``. ``run()`` returns that H×W×3 image as uint8
    (what ``cv2.imwrite`` stores; the file write is not timed)."""
    with official_esrgan(path) as ns:
        net = official_rrdbnet(ns, cfg, model)
        device = torch.device(cfg.MODEL.DEVICE)

        def run():
            img = image * 1.0 / 255
            img = torch.from_numpy(np.transpose(img[:, :, [2, 1, 0]], (2, 0, 1))).float()
            with torch.no_grad():
                out = net(img.unsqueeze(0).to(device)).data.squeeze().float().cpu().clamp_(0, 1)
            out = np.transpose(out.numpy()[[2, 1, 0], :, :], (1, 2, 0))
            return (out * 255.0).round().astype(np.uint8)

        yield run
