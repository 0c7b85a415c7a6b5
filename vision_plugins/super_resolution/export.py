"""Super-resolution export (the specs' exporter): the generator ``netG`` as one graph through
the image-to-image exporter of ``vision_plugins/gan/export.py``: ``images`` (1, 3, h, w) =
LR / 255 -> ``pixels`` (1, 3, s·h, s·w) = clamp(G, 0, 1) · 255, h / w dynamic (checked at two
sizes: the training LR crop ``INPUT.SR.GT_SIZE / SCALE`` and an odd one). Eval mode (the
Base config's ``MODEL.GAN.TEST_TRAIN_MODE False``; SRResNet's BatchNorm refuses the train-mode
test, naming the key)."""

from ..gan.export import TranslationExportable

__all__ = ["export_super_resolution"]


def export_super_resolution(model, cfg):
    cfg = cfg.clone()
    cfg.defrost()
    cfg.INPUT.GAN.CROP_SIZE = max(8, cfg.INPUT.SR.GT_SIZE // cfg.INPUT.SR.SCALE)
    exportable = TranslationExportable(model, cfg, [("netG", model.input_nc)])
    exportable.meta.update(
        input="LR images / 255 in [0, 1] (SuperResolution.normalize)",
        scale=cfg.INPUT.SR.SCALE,
        crop_size=None,
        dynamic_size=True,
    )
    return exportable
