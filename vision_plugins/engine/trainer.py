"""``Trainer``: detectron2's DefaultTrainer with the project's data/evaluator registries."""

import contextlib
import logging

import torch
from detectron2.data import (
    DatasetCatalog,
    build_detection_test_loader,
    build_detection_train_loader,
)
from detectron2.data.build import _train_loader_from_config
from detectron2.engine import DefaultTrainer
from detectron2.engine import defaults as d2_defaults
from detectron2.solver.build import get_default_optimizer_params, maybe_add_gradient_clipping

from ..checkpoint import Checkpointer
from ..data import build_mapper
from ..data.video_panoptic import VideoInferenceSampler
from ..evaluation import build_evaluator
from .defaults import check_datasets
from .divergence import diverged
from .hooks import ValidationLossHook

__all__ = ["Trainer", "cpu_aware_ddp"]

logger = logging.getLogger(__name__)


@contextlib.contextmanager
def cpu_aware_ddp():
    """detectron2's ``create_ddp_model`` passes ``device_ids=[local_rank]``, which
    DistributedDataParallel rejects for CPU modules: pass ``device_ids=None`` for them."""
    original = d2_defaults.create_ddp_model

    def create_ddp_model(model, **kwargs):
        params = list(model.parameters())
        if params and params[0].device.type == "cpu":
            kwargs.setdefault("device_ids", None)
        return original(model, **kwargs)

    d2_defaults.create_ddp_model = create_ddp_model
    try:
        yield
    finally:
        d2_defaults.create_ddp_model = original


class Trainer(DefaultTrainer):
    """DefaultTrainer where the evaluator follows the dataset's ``evaluator_type``, the mapper
    follows ``INPUT.DATASET_MAPPER_NAME``, multi-process training works on CPU (gloo), and
    ``TEST.VAL_LOSS.PERIOD`` > 0 adds a validation-loss hook. TensorBoard events and
    ``metrics.json`` are written to OUTPUT_DIR by detectron2's default writers. ``checkpointer``
    is the project's :class:`~vision_plugins.checkpoint.Checkpointer` (safe, checked loading,
    atomic saving, resuming from the newest readable checkpoint)."""

    def __init__(self, cfg):
        check_datasets(cfg)
        with cpu_aware_ddp():
            super().__init__(cfg)
        self._use_project_checkpointer()

    def _use_project_checkpointer(self):
        """Replace detectron2's ``DetectionCheckpointer`` (built in ``DefaultTrainer.__init__``)
        by a :class:`Checkpointer` with the same model, directory and checkpointables (the
        trainer's weakref proxy). Called before the hooks are built, so that the periodic
        checkpointer hook saves through it too."""
        old = self.checkpointer
        if isinstance(old, Checkpointer):
            return
        self.checkpointer = Checkpointer(
            old.model, old.save_dir, save_to_disk=old.save_to_disk, **old.checkpointables
        )

    @classmethod
    def build_evaluator(cls, cfg, dataset_name, output_folder=None):
        return build_evaluator(cfg, dataset_name, output_folder)

    @classmethod
    def build_optimizer(cls, cfg, model):
        name = cfg.SOLVER.get("OPTIMIZER", "SGD").upper()
        if name == "SGD":
            return super().build_optimizer(cfg, model)
        if name != "ADAM":
            raise ValueError(f"SOLVER.OPTIMIZER={name!r}: expected 'SGD' or 'ADAM'")
        params = get_default_optimizer_params(
            model,
            weight_decay=cfg.SOLVER.WEIGHT_DECAY,
            weight_decay_norm=cfg.SOLVER.WEIGHT_DECAY_NORM,
        )
        adam = maybe_add_gradient_clipping(cfg, torch.optim.Adam)
        return adam(params, lr=cfg.SOLVER.BASE_LR)

    @classmethod
    def build_train_loader(cls, cfg):
        """detectron2's loader on the mapper's training samples (``prepare_dataset``: e.g. the
        annotated frames of video datasets, paired with their reference frames)."""
        mapper = build_mapper(cfg, is_train=True)
        kwargs = _train_loader_from_config(cfg, mapper=mapper)
        samples = mapper.prepare_dataset(kwargs["dataset"])
        if samples is not kwargs["dataset"]:
            if cfg.DATALOADER.SAMPLER_TRAIN != "TrainingSampler":
                raise ValueError(
                    f"DATALOADER.SAMPLER_TRAIN={cfg.DATALOADER.SAMPLER_TRAIN!r} is not supported "
                    f"with {type(mapper.mapper).__name__}, which builds its own training samples"
                )
            kwargs.update(dataset=samples, sampler=None)
        return build_detection_train_loader(**kwargs)

    @classmethod
    def build_test_loader(cls, cfg, dataset_name):
        """detectron2's test loader with the architecture's test transform; video datasets
        (dicts with ``video_id``) run whole videos in frame order (:class:`VideoInferenceSampler`:
        streaming models and the video evaluators need it)."""
        mapper = build_mapper(cfg, False)
        dicts = DatasetCatalog.get(dataset_name)
        if dicts and "video_id" in dicts[0]:
            return build_detection_test_loader(
                dicts,
                mapper=mapper,
                sampler=VideoInferenceSampler(dicts),
                num_workers=cfg.DATALOADER.NUM_WORKERS,
            )
        return build_detection_test_loader(cfg, dataset_name, mapper=mapper)

    def run_step(self):
        """detectron2's step; a step that fails because the weights diverged raises detectron2's
        non-finite-loss ``FloatingPointError`` naming the iteration and the loss terms, as for
        every meta-architecture (see ``engine.divergence``)."""
        try:
            super().run_step()
        except Exception as e:
            error = diverged(self.model, self.iter, self.storage, e)
            if error is None:
                raise
            raise error from e

    def build_hooks(self):
        self._use_project_checkpointer()
        hooks = super().build_hooks()
        val = self.cfg.TEST.VAL_LOSS
        if val.PERIOD > 0 and self.cfg.DATASETS.TEST:
            # before the PeriodicWriter (last hook), so the values are written at this step
            hooks.insert(
                len(hooks) - 1,
                ValidationLossHook(self.cfg, val.PERIOD, self.cfg.DATASETS.TEST, val.MAX_BATCHES),
            )
        return hooks

    def resume_or_load(self, resume=True):
        """detectron2's, with :meth:`Checkpointer.resume_or_load`: ``resume`` continues from the
        newest readable checkpoint of OUTPUT_DIR (a damaged newer one is skipped with a
        warning); without one, starts at iteration 0 from MODEL.WEIGHTS."""
        self.checkpointer.resume_or_load(self.cfg.MODEL.WEIGHTS, resume=resume)
        resumed = self.checkpointer.resumed_from
        if resume and resumed is None:
            weights = self.cfg.MODEL.WEIGHTS or "(none: random initialisation)"
            logger.warning(
                f"--resume: no checkpoint to resume from in OUTPUT_DIR={self.cfg.OUTPUT_DIR} "
                "(no 'last_checkpoint', model_final.pth or model_<iter>.pth): started at "
                f"iteration 0 from MODEL.WEIGHTS={weights}"
            )
        elif resumed is not None:
            # the checkpoint stores the iteration that just finished
            self.start_iter = self.iter + 1
            logger.info(f"resumed from {resumed}: continuing at iteration {self.start_iter}")
