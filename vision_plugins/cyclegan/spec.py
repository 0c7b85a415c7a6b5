"""What CycleGAN plugs in: the shared GAN keys, the translation mapper and test transform, its
converter, and the two-player trainer."""

from ..data.translation import TranslationMapper, build_translation_test_augmentation
from ..gan import add_gan_config
from ..gan.visualize import draw_translation
from ..spec import ArchSpec, register_spec
from . import convert  # noqa: F401  (registers the converter named below)
from .export import export_cyclegan
from .meta_arch import CycleGAN  # noqa: F401  (registers the meta-architecture)

SPEC = register_spec(
    ArchSpec(
        meta_arch="CycleGAN",
        package="cyclegan",
        config_dir="CycleGAN",
        project="CycleGAN",
        add_config=add_gan_config,
        mappers=(TranslationMapper,),
        test_augmentation=build_translation_test_augmentation,
        converters=("cyclegan",),
        exporter=export_cyclegan,
        visualize=draw_translation,
        trainer="two_player",
        official_runner="tests.official.cyclegan:runner",
    )
)
