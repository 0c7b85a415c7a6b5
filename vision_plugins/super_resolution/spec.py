"""What the super-resolution models plug in: their config keys, the SR mapper and test transform,
the converters, the LR | bicubic | SR demo drawing, and the two-player trainer (which also runs
the one-player ``SuperResolution``). ``tools/benchmark.py --official``: ``SuperResolution`` /
``SRGAN`` against a BasicSR checkout (``MSRResNet``, ``RRDBNet``), ``ESRGAN`` against
xinntao/ESRGAN (``RRDBNet_arch``); the runners refuse other generators."""

from ..data.super_resolution import SRMapper, build_sr_test_augmentation
from ..spec import ArchSpec, register_spec
from . import convert  # noqa: F401  (registers the converters named below)
from .config import add_sr_config
from .export import export_super_resolution
from .meta_arch import ESRGAN, SRGAN, SuperResolution  # noqa: F401  (registers them)
from .visualize import draw_super_resolution

SPECS = tuple(
    register_spec(
        ArchSpec(
            meta_arch=name,
            package="super_resolution",
            config_dir="SuperResolution",
            project="SuperResolution",
            add_config=add_sr_config,
            converters=("msrresnet", "esrgan"),
            visualize=draw_super_resolution,
            exporter=export_super_resolution,
            trainer="two_player",
            mappers=(SRMapper,),
            test_augmentation=build_sr_test_augmentation,
            official_runner=runner,
        )
    )
    for name, runner in (
        ("SuperResolution", "tests.official.basicsr_sr:runner"),
        ("SRGAN", "tests.official.basicsr_sr:runner"),
        ("ESRGAN", "tests.official.esrgan:runner"),
    )
)
SPEC = SPECS[0]
