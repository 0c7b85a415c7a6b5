"""Training hooks."""

import contextlib
import logging

import torch
from detectron2.data import DatasetCatalog, build_detection_test_loader
from detectron2.engine import HookBase
from detectron2.utils import comm

from ..data import build_mapper

__all__ = ["ValidationLossHook", "buffers_restored", "training_mode"]

logger = logging.getLogger(__name__)


@contextlib.contextmanager
def buffers_restored(model):
    """Every buffer of ``model`` (BatchNorm running mean / var / batch counts, ...) back to its
    value on entry when the block ends."""
    saved = [(b, b.detach().clone()) for b in model.buffers()]
    try:
        yield model
    finally:
        with torch.no_grad():
            for buf, value in saved:
                buf.copy_(value)


@contextlib.contextmanager
def training_mode(model):
    """``model.train()`` inside the block; each module's own mode restored after."""
    modes = [(m, m.training) for m in model.modules()]
    model.train()
    try:
        yield model
    finally:
        for m, mode in modes:
            m.training = mode


class ValidationLossHook(HookBase):
    """Every ``period`` iterations, log the mean of each training loss over (at most
    ``max_batches`` images of) each validation set as ``val/<dataset>/<loss>`` and
    ``val/total_loss``. The model runs in training mode (it returns losses) under ``no_grad``,
    on the training mapper's samples (``prepare_dataset``: e.g. the annotated frames of a video
    set with their references) under training-time augmentation; every buffer (BatchNorm
    running statistics, ...) is restored afterwards, so the hook leaves the model as it found
    it."""

    def __init__(self, cfg, period, dataset_names, max_batches):
        self._period = period
        self._max_batches = max_batches
        mapper = build_mapper(cfg, is_train=True)
        self._loaders = {
            name: build_detection_test_loader(
                mapper.prepare_dataset(DatasetCatalog.get(name)),
                mapper=mapper,
                num_workers=cfg.DATALOADER.NUM_WORKERS,
            )
            for name in dataset_names
        }

    def _losses(self, loader):
        sums, n = {}, 0
        for i, batch in enumerate(loader):
            if i >= self._max_batches:
                break
            losses = self.trainer.model(batch)
            for k, v in losses.items():
                sums[k] = sums.get(k, 0.0) + float(v)
            n += 1
        return sums, n

    def _do(self):
        model = self.trainer.model
        results = {}
        with torch.no_grad(), buffers_restored(model), training_mode(model):
            for name, loader in self._loaders.items():
                gathered = comm.all_gather(self._losses(loader))
                total = sum(n for _, n in gathered)
                if total == 0:
                    continue
                for k in gathered[0][0]:
                    results[f"val/{name}/{k}"] = sum(s[k] for s, _ in gathered) / total
                results[f"val/{name}/total_loss"] = sum(
                    v for k, v in results.items() if k.startswith(f"val/{name}/loss")
                )
        if results and comm.is_main_process():
            totals = [v for k, v in results.items() if k.endswith("/total_loss")]
            results["val/total_loss"] = sum(totals) / len(totals)
            self.trainer.storage.put_scalars(**results, smoothing_hint=False)
            logger.info(
                "validation losses: " + ", ".join(f"{k}={v:.4f}" for k, v in results.items())
            )

    def after_step(self):
        next_iter = self.trainer.iter + 1
        if next_iter % self._period == 0 or next_iter == self.trainer.max_iter:
            self._do()
