"""CycleGAN export (the spec's exporter): the generators ``netG_A`` (A -> B) and ``netG_B``
(B -> A, run for inputs with ``image_B``) as two graphs (see ``vision_plugins/gan/export.py``:
input in [-1, 1], output 0..255 pixels, any H / W for the ResNet generators)."""

from ..gan.export import TranslationExportable

__all__ = ["export_cyclegan"]


def export_cyclegan(model, cfg):
    return TranslationExportable(
        model, cfg, [("netG_A", model.input_nc), ("netG_B", model.output_nc)]
    )
