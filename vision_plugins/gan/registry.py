"""Generator / discriminator registries and their builders.

Registered classes take ``(cfg, input_nc=..., output_nc=...)`` (generators) or
``(cfg, input_nc=...)`` (discriminators) through detectron2's ``@configurable``; names are the
class names (``UnetGenerator``, ``ResnetGenerator``, ``NLayerDiscriminator``,
``PixelDiscriminator`` here; other packages register theirs). ``OFFICIAL_NET_NAMES`` translates
the official ``--netG`` / ``--netD`` values.
"""

from ..registry import Registry
from .networks import (
    NLayerDiscriminator,
    PixelDiscriminator,
    ResnetGenerator,
    UnetGenerator,
    init_weights,
)

__all__ = [
    "GAN_GENERATOR_REGISTRY",
    "GAN_DISCRIMINATOR_REGISTRY",
    "OFFICIAL_NET_NAMES",
    "build_generator",
    "initialize_networks",
    "build_discriminator",
]

GAN_GENERATOR_REGISTRY = Registry("VP_GAN_GENERATOR")
GAN_GENERATOR_REGISTRY.__doc__ = """Image generators (MODEL.GAN.GENERATOR), built with
``cls(cfg, input_nc=..., output_nc=...)`` (``None``: MODEL.GAN.INPUT_NC / OUTPUT_NC)."""
GAN_DISCRIMINATOR_REGISTRY = Registry("VP_GAN_DISCRIMINATOR")
GAN_DISCRIMINATOR_REGISTRY.__doc__ = """Discriminators (MODEL.GAN.D.NAME), built with
``cls(cfg, input_nc=...)``; they return raw logits."""

GAN_GENERATOR_REGISTRY.register(UnetGenerator)
GAN_GENERATOR_REGISTRY.register(ResnetGenerator)
GAN_DISCRIMINATOR_REGISTRY.register(NLayerDiscriminator)
GAN_DISCRIMINATOR_REGISTRY.register(PixelDiscriminator)

# Official --netG / --netD value -> (registry name, constructor keyword arguments it fixes).
# ``n_layers`` takes its depth from --n_layers_D (MODEL.GAN.D.N_LAYERS).
OFFICIAL_NET_NAMES = {
    "unet_128": ("UnetGenerator", {"num_downs": 7}),
    "unet_256": ("UnetGenerator", {"num_downs": 8}),
    "resnet_6blocks": ("ResnetGenerator", {"n_blocks": 6}),
    "resnet_9blocks": ("ResnetGenerator", {"n_blocks": 9}),
    "basic": ("NLayerDiscriminator", {"n_layers": 3}),
    "n_layers": ("NLayerDiscriminator", {}),
    "pixel": ("PixelDiscriminator", {}),
}


def _lookup(registry, key, name):
    if name not in registry:
        raise KeyError(
            f"{key}={name!r} is not registered; registered names: {', '.join(registry.names())}"
        )
    return registry.get(name)


def initialize_networks(cfg, *nets):
    """``init_weights`` with ``MODEL.GAN.INIT_TYPE`` / ``INIT_GAIN`` on each of ``nets`` in
    order (nothing for ``"none"``); returns ``nets``."""
    if cfg.MODEL.GAN.INIT_TYPE != "none":
        for net in nets:
            init_weights(net, cfg.MODEL.GAN.INIT_TYPE, cfg.MODEL.GAN.INIT_GAIN)
    return nets


def _initialised(net, cfg, initialize):
    if initialize:
        initialize_networks(cfg, net)
    return net


def build_generator(cfg, input_nc=None, output_nc=None, *, initialize=True):
    """The ``MODEL.GAN.GENERATOR`` network for ``input_nc`` -> ``output_nc`` channels (``None``:
    ``MODEL.GAN.INPUT_NC`` / ``OUTPUT_NC``), initialised by
    :func:`~vision_plugins.gan.init_weights` with ``MODEL.GAN.INIT_TYPE`` / ``INIT_GAIN``
    (``"none"``: the network's own initialisation is kept).

    The official code constructs all networks of a model first and initialises them afterwards,
    in ``model_names`` order (``BaseModel.setup``). To reproduce its weights from the same torch
    seed, build every network with ``initialize=False``, then call :func:`initialize_networks`
    on them in that order."""
    cls = _lookup(GAN_GENERATOR_REGISTRY, "MODEL.GAN.GENERATOR", cfg.MODEL.GAN.GENERATOR)
    return _initialised(cls(cfg, input_nc=input_nc, output_nc=output_nc), cfg, initialize)


def build_discriminator(cfg, input_nc, *, initialize=True):
    """The ``MODEL.GAN.D.NAME`` network judging ``input_nc``-channel inputs (pix2pix: the
    concatenated pair, INPUT_NC + OUTPUT_NC; CycleGAN: one domain's images), initialised as in
    :func:`build_generator`."""
    cls = _lookup(GAN_DISCRIMINATOR_REGISTRY, "MODEL.GAN.D.NAME", cfg.MODEL.GAN.D.NAME)
    return _initialised(cls(cfg, input_nc=input_nc), cfg, initialize)
