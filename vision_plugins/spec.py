"""Architecture specs: what each architecture package plugs into the shared packages.

Each architecture package has a ``spec.py`` that calls :func:`register_spec` once per
meta-architecture it provides. The shared packages (``config``, ``data``, ``evaluation``,
``engine``) and the tools never import an architecture package: they look the spec up with
:func:`spec_for` (by ``MODEL.META_ARCHITECTURE``, and ``MODEL.ROI_HEADS.NAME`` for detectron2's
``GeneralizedRCNN`` variants) or iterate over :data:`SPECS`. This module imports nothing of the
project but its registry class, so every layer may import it.
"""

from dataclasses import dataclass
from typing import Callable, Optional, Tuple

from .registry import Registry

__all__ = ["ArchSpec", "CountCheck", "SPECS", "register_spec", "spec_for", "cfg_value"]


@dataclass(frozen=True)
class CountCheck:
    """``key`` (a config key holding a count) must equal the length of the training sets'
    metadata ``field`` (``thing_classes``, ``stuff_classes`` or ``keypoint_names``), checked
    when the trainer is built. ``when`` names a boolean config key that enables the check (e.g.
    ``MODEL.KEYPOINT_ON``)."""

    key: str
    field: str
    when: Optional[str] = None


@dataclass(frozen=True)
class ArchSpec:
    """Everything one meta-architecture plugs in.

    - ``meta_arch``: its ``MODEL.META_ARCHITECTURE``; ``roi_heads``: for a variant of another
      meta-architecture (DensePose R-CNN on ``GeneralizedRCNN``), the ``MODEL.ROI_HEADS.NAME``
      that selects this spec.
    - ``package`` (``vision_plugins.<package>``), ``config_dir`` (``configs/<config_dir>/``) and
      ``project`` (``projects/<project>/README.md``).
    - ``add_config``: ``cfg -> None``, adds the architecture's keys (never changes a default)
      and registers renamed keys (old spellings raise an error naming the new key).
    - ``counts``: :class:`CountCheck` s of class / keypoint counts against the training sets.
    - ``mappers``: dataset mapper classes, registered in ``data.MAPPER_REGISTRY`` under their class
      name (selected by ``INPUT.DATASET_MAPPER_NAME``).
    - ``test_augmentation``: ``cfg -> list[Augmentation]``, **the one test transform** used by
      the evaluation loader and ``Predictor``; None = detectron2's ``ResizeShortestEdge`` from
      ``INPUT.MIN_SIZE_TEST`` / ``MAX_SIZE_TEST``.
    - ``evaluators``: ``(cfg, dataset_name, output_folder) -> list[DatasetEvaluator]``, added to
      the evaluators of the dataset's ``evaluator_type``.
    - ``converters``: names of the ``tools/convert_weights.py --arch`` converters it registers.
    - ``exporter``: ``(model, cfg) -> vision_plugins.export.Exportable`` (the graphs to export
      to TorchScript / ONNX and the Python around them: ``tools/export_model.py``, the
      ``Predictor`` backends; see ``vision_plugins/export/__init__.py``).
    - ``streaming``: inference carries state across the frames of a video (inputs with
      ``video_id``): evaluation runs whole videos in frame order in one process.
    - ``visualize``: ``(visualizer, rgb, predictions) -> (rgb, predictions)`` run by
      ``tools/demo.py`` before detectron2's drawing (draws what detectron2 cannot, returns what is
      left to draw).
    - ``official_runner``: ``"module:function"`` of the runner of the official code, for the
      optional tests and ``tools/benchmark.py --official`` (modules under ``tests/official``).
    - ``trainer``: the training loop ``tools/train_net.py`` runs: ``"default"`` (detectron2's,
      one optimizer) or ``"two_player"`` (generator / discriminator models:
      ``engine.TwoPlayerTrainer``).
    - ``demo_threshold``: the default ``--confidence-threshold`` of ``tools/demo.py``; 0 where
      the instances' ``scores`` are not detection confidences (a top-down pose model's mean
      heatmap peak), which detectron2's default 0.5 would hide.
    """

    meta_arch: str
    package: str
    config_dir: str
    project: str
    roi_heads: Optional[str] = None
    add_config: Optional[Callable] = None
    counts: Tuple[CountCheck, ...] = ()
    mappers: Tuple[type, ...] = ()
    test_augmentation: Optional[Callable] = None
    evaluators: Optional[Callable] = None
    converters: Tuple[str, ...] = ()
    exporter: Optional[Callable] = None
    streaming: bool = False
    visualize: Optional[Callable] = None
    official_runner: Optional[str] = None
    trainer: str = "default"
    demo_threshold: float = 0.5

    @property
    def key(self):
        return self.meta_arch if self.roi_heads is None else f"{self.meta_arch}/{self.roi_heads}"


SPECS = Registry("VP_ARCH_SPEC")
SPECS.__doc__ = "ArchSpec of every architecture, keyed by META_ARCHITECTURE[/ROI_HEADS.NAME]."
_HOOKS = []


def register_spec(spec):
    """Register ``spec`` (a duplicate key raises) and plug it into the registries that asked to
    be told (:func:`on_register`, e.g. the mapper registry). Returns ``spec``."""
    SPECS.register_as(spec.key, spec)  # a duplicate key raises
    for hook in _HOOKS:
        hook(spec)
    return spec


def on_register(hook):
    """Call ``hook(spec)`` for every spec registered so far and every later one."""
    _HOOKS.append(hook)
    for spec in SPECS.values():
        hook(spec)
    return hook


def spec_for(cfg):
    """The spec of ``cfg``'s model, or None (a meta-architecture the project does not provide:
    detectron2's defaults apply)."""
    arch = cfg.MODEL.META_ARCHITECTURE
    roi_heads = cfg.MODEL.get("ROI_HEADS", {}).get("NAME")
    for key in (f"{arch}/{roi_heads}", arch):
        if key in SPECS:
            return SPECS.get(key)
    return None


def cfg_value(cfg, key):
    """``cfg`` value at a dotted ``key`` (``"MODEL.YOLACT.NUM_CLASSES"``)."""
    node = cfg
    for part in key.split("."):
        node = node[part]
    return node
