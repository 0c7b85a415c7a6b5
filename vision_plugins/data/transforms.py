"""Test-time transforms per meta-architecture, shared by test mappers and ``Predictor``.

``TEST_AUGMENTATION_REGISTRY`` maps a ``MODEL.META_ARCHITECTURE`` name to a function
``cfg -> list[detectron2.data.transforms.Augmentation]``. Architectures whose official test
transform is not detectron2's shortest-edge resize (e.g. YOLACT's fixed 550×550) register theirs.
"""

from detectron2.data import detection_utils as utils

__all__ = ["TEST_AUGMENTATION_REGISTRY", "register_test_augmentation", "build_test_augmentation"]

TEST_AUGMENTATION_REGISTRY = {}


def register_test_augmentation(meta_arch):
    def deco(fn):
        TEST_AUGMENTATION_REGISTRY[meta_arch] = fn
        return fn

    return deco


def build_test_augmentation(cfg):
    """The official test transform of ``cfg.MODEL.META_ARCHITECTURE`` (default: detectron2's)."""
    fn = TEST_AUGMENTATION_REGISTRY.get(cfg.MODEL.META_ARCHITECTURE)
    if fn is None:
        return utils.build_augmentation(cfg, is_train=False)
    return fn(cfg)
