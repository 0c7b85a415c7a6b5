"""Registry of dataset mappers, selected by ``cfg.INPUT.DATASET_MAPPER_NAME``.

A mapper is registered as a class taking ``(cfg, is_train)`` (detectron2 ``@configurable``
mappers do). detectron2's ``DatasetMapper`` is registered under its own name and is the default;
the architectures' mappers are registered from their specs (``ArchSpec.mappers``).

In test mode a mapper gets **the config's test transform** (:func:`build_test_augmentation`, the
one ``Predictor`` uses) as its ``augmentations`` argument when its constructor takes one;
mappers without that argument build it themselves.
"""

import inspect

from detectron2.data import DatasetMapper
from detectron2.utils.registry import Registry

from ..spec import on_register
from .transforms import build_test_augmentation

__all__ = ["MAPPER_REGISTRY", "build_mapper", "DataLoadError"]

MAPPER_REGISTRY = Registry("VP_DATASET_MAPPER")
MAPPER_REGISTRY.__doc__ = "Dataset mappers selected by cfg.INPUT.DATASET_MAPPER_NAME."
MAPPER_REGISTRY.register(DatasetMapper)


@on_register
def _register_mappers(spec):
    for mapper in spec.mappers:  # a mapper declared by two specs is registered once
        name = mapper.__name__
        if name not in MAPPER_REGISTRY or MAPPER_REGISTRY.get(name) is not mapper:
            MAPPER_REGISTRY.register(mapper)  # another class under a taken name raises


class DataLoadError(RuntimeError):
    """A dataset dict could not be mapped; the message names the image file."""


class _NamedErrors:
    """Wraps a mapper so that any failure names the image file it was loading."""

    def __init__(self, mapper):
        self.mapper = mapper

    def __call__(self, dataset_dict):
        try:
            return self.mapper(dataset_dict)
        except Exception as e:
            where = dataset_dict.get("file_name", f"image_id={dataset_dict.get('image_id')}")
            raise DataLoadError(
                f"cannot load image file '{where}' ({type(self.mapper).__name__}): "
                f"{type(e).__name__}: {e}"
            ) from e

    def prepare_dataset(self, dicts):
        """Training samples from the dataset dicts: the mapper's ``prepare_dataset`` if it has
        one (video mappers pair frames with references), else the dicts themselves."""
        prepare = getattr(self.mapper, "prepare_dataset", None)
        return prepare(dicts) if prepare else dicts

    def __repr__(self):
        return repr(self.mapper)


def _takes_augmentations(cls):
    params = inspect.signature(cls.__init__).parameters
    return "augmentations" in params or any(
        p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()
    )


def build_mapper(cfg, is_train):
    """The mapper named by ``cfg.INPUT.DATASET_MAPPER_NAME``; errors name the image file. In
    test mode it applies the config's test transform (see the module doc)."""
    name = cfg.INPUT.get("DATASET_MAPPER_NAME", "DatasetMapper")
    try:
        cls = MAPPER_REGISTRY.get(name)
    except KeyError:
        raise KeyError(
            f"INPUT.DATASET_MAPPER_NAME={name!r} is not a registered mapper; registered: "
            f"{sorted(k for k, _ in MAPPER_REGISTRY)}"
        ) from None
    if not is_train and _takes_augmentations(cls):
        return _NamedErrors(cls(cfg, False, augmentations=build_test_augmentation(cfg)))
    return _NamedErrors(cls(cfg, is_train))
