"""Official CycleGAN files -> ``CycleGAN`` checkpoint: ``<epoch>_net_G_A.pth``, ``_net_G_B``,
``_net_D_A``, ``_net_D_B`` (a training checkpoint directory) -> ``netG_A.*`` … ``netD_B.*``; a
released one-direction model (``latest_net_G.pth``, run by the official ``--model test``) is
role ``G`` and becomes ``netG_A`` (translate A -> B; pass the other direction's file as ``G_B``).
``tools/convert_weights.py --arch cyclegan --src DIR`` or ``--src latest_net_G.pth``. See
``vision_plugins.gan.convert`` for what is inferred and checked."""

from ..checkpoint import CheckpointFormatError, register_converter
from ..gan.convert import convert_networks

__all__ = ["convert_cyclegan"]

ROLES = {
    "G": ("netG_A", "G"),
    "G_A": ("netG_A", "G"),
    "G_B": ("netG_B", "G_reverse"),
    "D_A": ("netD_A", "D"),
    "D_B": ("netD_B", "D"),
}


def _d_channels(role, config):
    """D_A judges domain B (G_A's output), D_B domain A."""
    return config.get("MODEL.GAN.OUTPUT_NC" if role == "D_A" else "MODEL.GAN.INPUT_NC")


@register_converter(
    "cyclegan",
    "junyanz/pytorch-CycleGAN-and-pix2pix CycleGAN <epoch>_net_{G_A,G_B,D_A,D_B}.pth or a "
    "released latest_net_G.pth",
    container_keys=(),
    signature=("model.1.", "model.10.conv_block."),
    roles=tuple(ROLES),
)
def convert_cyclegan(files):
    if "G" in files and "G_A" in files:
        raise CheckpointFormatError("G and G_A are the same network (netG_A): give one of them")
    return convert_networks(files, ROLES, "CycleGAN", _d_channels)
