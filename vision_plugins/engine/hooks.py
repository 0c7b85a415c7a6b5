"""Training hooks."""

import logging

import torch
from detectron2.data import DatasetCatalog, build_detection_test_loader
from detectron2.engine import HookBase
from detectron2.utils import comm

from ..data import build_mapper
from ..layers.modes import buffers_restored, training_mode

__all__ = ["ValidationLossHook"]

logger = logging.getLogger(__name__)


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
