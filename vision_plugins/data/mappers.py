"""Registry of dataset mappers, selected by ``cfg.INPUT.DATASET_MAPPER_NAME``.

A mapper is registered as a class taking ``(cfg, is_train)`` (detectron2 ``@configurable``
mappers do). :class:`DatasetMapper` (detectron2's, with the project's annotation checks) is
registered under that name and is the default; the architectures' mappers are registered from
their specs (``ArchSpec.mappers``).

Every mapper is wrapped by :class:`_NamedErrors`: a failure raises :class:`DataLoadError` naming
the image file. With ``DATALOADER.SKIP_UNREADABLE_IMAGES`` (training mappers only), an image the
decoder cannot read (:class:`~vision_plugins.data.image_io.UnreadableImageError`: missing, empty,
truncated, corrupt file, unsupported pixel type) is skipped instead: the mapper returns None,
detectron2's ``MapDataset`` maps another sample, and the skip is counted in the log
(:data:`~vision_plugins.data.issues.SKIPPED_IMAGES`). Evaluation never skips (a skipped image
would be replaced by a random other one and bias the metrics).

In test mode a mapper gets **the config's test transform** (:func:`build_test_augmentation`, the
one ``Predictor`` uses) as its ``augmentations`` argument when its constructor takes one;
mappers without that argument build it themselves.
"""

import inspect

from detectron2.data import DatasetMapper as _D2DatasetMapper
from detectron2.utils.registry import Registry

from ..spec import on_register
from .image_io import UnreadableImageError
from .issues import SKIPPED_IMAGES, count_dropped_instances, drop_empty_segmentations
from .transforms import build_test_augmentation

__all__ = ["MAPPER_REGISTRY", "build_mapper", "DataLoadError", "DatasetMapper"]


class DatasetMapper(_D2DatasetMapper):
    """detectron2's ``DatasetMapper`` with the project's annotation checks, the base of the
    project's mappers built on detectron2's (YOLACT, YolactEdge, DensePose R-CNN). Registered as
    ``"DatasetMapper"`` (the default ``INPUT.DATASET_MAPPER_NAME``). Only
    ``_transform_annotations`` (training) changes:

    - with instance masks, an instance whose ``segmentation`` is missing or empty (``[]``, no
      polygon of 3+ points) is dropped before detectron2 sees it, counted with a warning naming
      the file and annotation (:func:`~vision_plugins.data.issues.drop_empty_segmentations`);
    - the instances detectron2's ``filter_empty_instances`` drops (empty box or mask after the
      augmentation) are counted in the log (:data:`~vision_plugins.data.issues.EMPTY_INSTANCES`).

    Images are decoded by detectron2's ``__call__`` through ``detection_utils.read_image``,
    which ``vision_plugins.data.image_io`` wraps once with the project decoder (16-bit
    grayscale etc.; see that module for why it is wrapped rather than copied here)."""

    def _transform_annotations(self, dataset_dict, transforms, image_shape):
        if self.use_instance_mask:
            drop_empty_segmentations(dataset_dict)
        before = sum(1 for a in dataset_dict["annotations"] if a.get("iscrowd", 0) == 0)
        super()._transform_annotations(dataset_dict, transforms, image_shape)
        count_dropped_instances(dataset_dict, before)


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
    """Wraps a mapper so that any failure names the image file it was loading; with
    ``skip_unreadable``, an unreadable image returns None (skipped, counted) instead."""

    def __init__(self, mapper, skip_unreadable=False):
        self.mapper = mapper
        self.skip_unreadable = skip_unreadable

    def __call__(self, dataset_dict):
        try:
            return self.mapper(dataset_dict)
        except Exception as e:
            where = dataset_dict.get("file_name", f"image_id={dataset_dict.get('image_id')}")
            if self.skip_unreadable and isinstance(e, UnreadableImageError):
                SKIPPED_IMAGES.add(f"{e}")
                return None
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
    test mode it applies the config's test transform; in training mode it skips unreadable
    images when ``DATALOADER.SKIP_UNREADABLE_IMAGES`` is set (see the module doc)."""
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
    skip = bool(cfg.DATALOADER.get("SKIP_UNREADABLE_IMAGES", False))
    return _NamedErrors(cls(cfg, is_train), skip_unreadable=skip)
