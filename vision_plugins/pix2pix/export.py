"""Pix2Pix export (the spec's exporter): the generator ``netG`` as one graph (see
``vision_plugins/gan/export.py``: input in [-1, 1], output 0..255 pixels, eval mode only:
export with ``MODEL.GAN.TEST_TRAIN_MODE False``)."""

from ..gan.export import TranslationExportable

__all__ = ["export_pix2pix"]


def export_pix2pix(model, cfg):
    return TranslationExportable(model, cfg, [("netG", model.input_nc)])
