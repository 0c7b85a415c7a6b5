"""Super-resolution: SRResNet / SRGAN (Ledig et al., CVPR 2017), BasicSR's MSRResNet and
ESRGAN (Wang et al., ECCVW 2018) -- generators, discriminators, the pixel / perceptual /
adversarial training of BasicSR's models, and converters of the official checkpoints."""

from ..gan import GAN_DISCRIMINATOR_REGISTRY, GAN_GENERATOR_REGISTRY
from .networks import (  # noqa: F401
    RRDB,
    MSRResNet,
    ResidualDenseBlock,
    RRDBNet,
    SRGANDiscriminator,
    SRResNet,
    VGGStyleDiscriminator,
)

for _net in (SRResNet, MSRResNet, RRDBNet):
    GAN_GENERATOR_REGISTRY.register(_net)
for _net in (SRGANDiscriminator, VGGStyleDiscriminator):
    GAN_DISCRIMINATOR_REGISTRY.register(_net)

from .meta_arch import ESRGAN, SRGAN, SuperResolution  # noqa: F401,E402
from .spec import SPEC, SPECS  # noqa: F401,E402
