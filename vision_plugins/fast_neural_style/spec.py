"""What FastNeuralStyle plugs in: its config keys, the content-image mapper and test transform,
the style evaluator (``evaluator_type: style``, registered by ``vision_plugins.evaluation.style``),
its converter and the demo drawing, trained by the two-player trainer with one player."""

from ..data.style import StyleMapper, build_style_test_augmentation
from ..evaluation import style as _style_evaluator  # noqa: F401  (registers evaluator "style")
from ..gan.visualize import draw_translation
from ..spec import ArchSpec, register_spec
from . import convert  # noqa: F401  (registers the converter named below)
from .config import add_fast_neural_style_config
from .meta_arch import FastNeuralStyle  # noqa: F401  (registers the meta-architecture)

SPEC = register_spec(
    ArchSpec(
        meta_arch="FastNeuralStyle",
        package="fast_neural_style",
        config_dir="FastNeuralStyle",
        project="FastNeuralStyle",
        add_config=add_fast_neural_style_config,
        mappers=(StyleMapper,),
        test_augmentation=build_style_test_augmentation,
        converters=("fast_neural_style",),
        visualize=draw_translation,
        trainer="two_player",
        official_runner="tests.official.fast_neural_style:runner",
    )
)
