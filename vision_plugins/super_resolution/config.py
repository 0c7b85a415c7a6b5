"""``add_sr_config``: the keys of the super-resolution models.

It calls the shared adders -- :func:`~vision_plugins.gan.add_gan_config` (``MODEL.GAN``,
``SOLVER.GAN``), :func:`~vision_plugins.gan.perceptual.add_perceptual_config`
(``MODEL.PERCEPTUAL``) and the SR data module's ``add_sr_input_config`` (``INPUT.SR``: the
scale, GT crop, augmentation) -- then adds its own keys under ``MODEL.GAN`` where they are
absent (idempotent). Defaults of the new keys are BasicSR's ESRGAN ones
(``train_ESRGAN_x4.yml``)."""

from ..data.super_resolution import add_sr_input_config
from ..gan import add_gan_config
from ..gan.perceptual import add_perceptual_config

__all__ = ["add_sr_config"]


def add_sr_config(cfg):
    add_gan_config(cfg)
    add_perceptual_config(cfg)
    add_sr_input_config(cfg)
    g = cfg.MODEL.GAN
    if "GROWTH_CHANNELS" not in g:
        # RRDBNet: channels each dense-block convolution adds (official gc=32).
        g.GROWTH_CHANNELS = 32
    if "PRETRAIN_G" not in g:
        # Checkpoint whose generator initialises netG when the model is built (BasicSR's
        # path.pretrain_network_g: SRGAN / ESRGAN start from the PSNR-trained generator); our
        # model_final.pth / a converted file (netG.* keys) or a bare generator state dict.
        g.PRETRAIN_G = ""
    if "INPUT_SIZE" not in g.D:
        # SRGANDiscriminator / VGGStyleDiscriminator: the (square) input size their dense layer
        # fixes (BasicSR: 128; SRGAN paper: 96). Must equal INPUT.SR.GT_SIZE in training.
        g.D.INPUT_SIZE = 128
    loss = g.LOSS
    if "PIXEL" not in loss:
        # Pixel loss between output and HR target: l1 | mse (BasicSR's L1Loss / MSELoss, mean).
        loss.PIXEL = "l1"
        # Its weight (ESRGAN: 1e-2; a PSNR-oriented model: 1.0; 0 disables it).
        loss.PIXEL_WEIGHT = 1.0
        # Weight of the perceptual (VGG feature) loss built from MODEL.PERCEPTUAL (BasicSR
        # perceptual_weight); 0 (the default) builds no VGG.
        loss.PERCEPTUAL_WEIGHT = 0.0
    return cfg
