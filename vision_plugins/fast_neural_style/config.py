"""``add_fast_neural_style_config``: the keys FastNeuralStyle reads -- ``MODEL.GAN`` (generator
``TransformerNet``: NGF, N_BLOCKS, INIT_TYPE; ``SOLVER.GAN`` for Adam), ``MODEL.PERCEPTUAL`` (loss
network, layers, content / style / TV weights) and ``INPUT.STYLE`` (crop size, style image).
Idempotent; new keys only (the configs set the official values)."""

from ..data.style import add_style_input_config
from ..gan import add_gan_config, add_perceptual_config

__all__ = ["add_fast_neural_style_config"]


def add_fast_neural_style_config(cfg):
    add_gan_config(cfg)
    add_perceptual_config(cfg)
    add_style_input_config(cfg)
    return cfg
