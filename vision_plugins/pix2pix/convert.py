"""Official pix2pix files (``latest_net_G.pth``, ``latest_net_D.pth``) -> ``Pix2Pix``
checkpoint (``netG.*``, ``netD.*``); ``tools/convert_weights.py --arch pix2pix --src
latest_net_G.pth [latest_net_D.pth]`` (or the checkpoint directory). The generator alone is
enough for inference. See ``vision_plugins.gan.convert`` for what is inferred and checked."""

from ..checkpoint import register_converter
from ..gan.convert import convert_networks

__all__ = ["convert_pix2pix"]

ROLES = {"G": ("netG", "G"), "D": ("netD", "D")}


def _d_channels(role, config):
    """The conditional discriminator sees A ⊕ B."""
    return config["MODEL.GAN.INPUT_NC"] + config["MODEL.GAN.OUTPUT_NC"]


@register_converter(
    "pix2pix",
    "junyanz/pytorch-CycleGAN-and-pix2pix pix2pix <epoch>_net_G.pth [+ _net_D.pth]",
    container_keys=(),
    signature=("model.model.0.", "model.model.1.model."),
    roles=tuple(ROLES),
)
def convert_pix2pix(files):
    if "G" not in files:
        raise KeyError("G: the generator file (<epoch>_net_G.pth)")
    return convert_networks(files, ROLES, "Pix2Pix", _d_channels)
