"""Shared building blocks of the image-to-image GANs (pix2pix, CycleGAN): the official networks
with checkpoint-identical layouts, their initialisation, adversarial losses, the image pool, the
generator / discriminator registries and their config keys. Names no architecture."""

from .config import add_gan_config  # noqa: F401
from .image_pool import ImagePool  # noqa: F401
from .losses import GAN_LOSS_MODES, GANLoss, gradient_penalty  # noqa: F401
from .networks import (  # noqa: F401
    INIT_TYPES,
    NORM_TYPES,
    PADDING_TYPES,
    NLayerDiscriminator,
    PixelDiscriminator,
    ResnetBlock,
    ResnetGenerator,
    UnetGenerator,
    UnetSkipConnectionBlock,
    get_norm_layer,
    init_weights,
)
from .perceptual import (  # noqa: F401
    PerceptualLoss,
    VGGFeatures,
    add_perceptual_config,
    gram_matrix,
    load_vgg,
    total_variation,
)
from .registry import (  # noqa: F401
    GAN_DISCRIMINATOR_REGISTRY,
    GAN_GENERATOR_REGISTRY,
    OFFICIAL_NET_NAMES,
    build_discriminator,
    build_generator,
    initialize_networks,
)
