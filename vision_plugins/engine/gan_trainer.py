"""``TwoPlayerTrainer``: detectron2's training loop for generator / discriminator models.

``tools/train_net.py`` picks it for every meta-architecture whose spec says
``trainer="two_player"`` (:func:`trainer_class`). The model (a two-player meta-architecture, e.g.
``Pix2Pix`` / ``CycleGAN``) declares

- ``players``: ``{"G": [module names], "D": [module names]}`` -- the parameters each optimizer
  owns (a model without "D", e.g. a generator trained on pixel or perceptual losses only, has
  one optimizer);
- ``step_order``: the order of the players' updates in one iteration (pix2pix: D then G, so G's
  loss sees the updated D; CycleGAN: G then D);
- ``forward(batched_inputs, phase=...)``: ``"generate"`` computes the fakes once per iteration
  (kept by the model and reused, detached where the official code detaches them); ``"G"`` /
  ``"D"`` return that player's loss dict (terms summing to its objective), with the other player
  frozen as the official ``set_requires_grad`` does.

One iteration: generate, then for each player in ``step_order``: zero its gradients, backward
its loss sum, average its gradients over the processes, step its Adam. Every loss term of both
players goes to ``metrics.json`` / TensorBoard through detectron2's writers (``total_loss`` is
their sum). The learning rates follow the official ``linear`` / ``step`` / ``cosine`` policies
stepped per epoch (``SOLVER.GAN.ITERS_PER_EPOCH``), or ``multistep`` per iteration (BasicSR's);
both optimizers, both schedulers and the
random-number generators (torch, Python, numpy: dropout masks, ImagePool draws, augmentation) are
saved in every checkpoint, and the data stream resumes at the sample where it stopped (for any
number of loader workers: detectron2 gives each worker whole batches of the stream in turn), so
a run of N + M iterations and a run of N resumed for M end with identical weights when the
mapper runs in the main process (``DATALOADER.NUM_WORKERS`` 0); loader workers are new processes
after a resume, so their augmentation draws (random crops, flips) start afresh.

Multi-process (detectron2's ``launch``, gloo on CPU): each player is synchronised on its own --
the parameters and buffers broadcast from process 0 at start (and the buffers before every
iteration, as DistributedDataParallel's ``broadcast_buffers``), and each player's gradients
averaged over the processes after its own backward (what DistributedDataParallel computes).
One DistributedDataParallel around the whole model cannot express this (the two players step
separately), and DDP around each network refuses the CycleGAN step, which runs each generator
several times before one backward and the discriminators frozen inside the generators' loss.
AMP is not used (``SOLVER.AMP.ENABLED`` is refused).
"""

import bisect
import logging
import math
import os
import random
import time
import weakref

import numpy as np
import torch
from detectron2.data import DatasetCatalog, build_detection_train_loader
from detectron2.data.build import _train_loader_from_config
from detectron2.data.samplers import TrainingSampler
from detectron2.engine import DefaultTrainer, HookBase, SimpleTrainer, TrainerBase, hooks
from detectron2.utils import comm
from detectron2.utils.events import get_event_storage
from detectron2.utils.logger import setup_logger
from PIL import Image

from ..checkpoint import Checkpointer
from ..data import build_mapper
from ..spec import spec_for
from .defaults import check_datasets
from .trainer import Trainer

__all__ = [
    "TwoPlayerTrainer",
    "TwoPlayerStep",
    "TwoPlayerLRScheduler",
    "ImageGridHook",
    "epoch_lambda",
    "multistep_lambda",
    "trainer_class",
]

logger = logging.getLogger(__name__)


def trainer_class(cfg):
    """The trainer ``tools/train_net.py`` uses for ``cfg``: :class:`TwoPlayerTrainer` when the
    model's spec says ``trainer="two_player"``, else :class:`Trainer`."""
    spec = spec_for(cfg)
    return TwoPlayerTrainer if spec is not None and spec.trainer == "two_player" else Trainer


def epoch_lambda(policy, n_epochs, n_epochs_decay, epoch_count=1, decay_epochs=50):
    """LR multiplier of epoch ``e`` (0-based count of finished epochs), the official
    ``get_scheduler`` rules: ``linear`` keeps the LR for ``n_epochs`` epochs and decays it
    linearly over ``n_epochs_decay`` (the last epoch runs at 1/(n_epochs_decay + 1));
    ``step`` multiplies by 0.1 every ``decay_epochs``; ``cosine`` anneals to 0 over
    ``n_epochs`` (``CosineAnnealingLR(T_max=n_epochs, eta_min=0)`` closed form)."""
    if policy == "linear":
        return lambda e: 1.0 - max(0, e + epoch_count - n_epochs) / float(n_epochs_decay + 1)
    if policy == "step":
        return lambda e: 0.1 ** (e // decay_epochs)
    if policy == "cosine":
        return lambda e: (1 + math.cos(math.pi * e / n_epochs)) / 2
    raise ValueError(
        f"SOLVER.GAN.LR_POLICY={policy!r}: expected 'linear', 'step', 'cosine' or 'multistep'"
    )


def multistep_lambda(steps, gamma):
    """LR multiplier of iteration ``it`` (0-based count of finished iterations): ``gamma`` to the
    number of ``steps`` reached, as BasicSR's ``MultiStepRestartLR`` (without restarts): its
    training loop steps the scheduler before every iteration but the first (1-based
    ``current_iter > 1``), so the iteration after ``steps[0]`` iterations is the first at the
    multiplied LR."""
    steps = sorted(steps)
    return lambda it: gamma ** bisect.bisect_right(steps, it)


class _ResumableSampler(TrainingSampler):
    """detectron2's ``TrainingSampler`` whose stream can start ``skip`` indices in (the samples
    the resumed iterations already used)."""

    skip = 0

    def __iter__(self):
        stream = super().__iter__()
        for _ in range(self.skip):
            next(stream)
        yield from stream


class TwoPlayerStep(SimpleTrainer):
    """One iteration of a two-player model (see the module docstring). ``optimizer`` is G's
    (detectron2's attribute), ``optimizer_d`` D's (None for a one-player model)."""

    def __init__(self, model, data_loader, optimizer, optimizer_d=None):
        super().__init__(model, data_loader, optimizer)
        self.optimizer_d = optimizer_d
        self.optimizers = {"G": optimizer}
        if optimizer_d is not None:
            self.optimizers["D"] = optimizer_d
        self.world_size = comm.get_world_size()
        if self.world_size > 1:
            _broadcast(list(model.parameters()) + list(model.buffers()))

    _resumed_rng = None

    def restore_rng(self):
        """Set the generators to the state of the checkpoint loaded last (if any), after
        starting the data loader's iterator: starting it draws from torch's generator, which the
        uninterrupted run did at its first iteration."""
        if self._resumed_rng is not None:
            self._data_loader_iter
            _set_rng_state(self._resumed_rng)
            self._resumed_rng = None

    def run_step(self):
        assert self.model.training, "[TwoPlayerStep] model was changed to eval mode!"
        start = time.perf_counter()
        data = next(self._data_loader_iter)
        data_time = time.perf_counter() - start
        if self.world_size > 1:
            _broadcast(list(self.model.buffers()))
        self.model(data, phase="generate")
        losses = {}
        for player in self.model.step_order:
            loss_dict = self.model(data, phase=player)
            optimizer = self.optimizers[player]
            optimizer.zero_grad()
            sum(loss_dict.values()).backward()
            if self.world_size > 1:
                _average_gradients(self.model.player_parameters(player), self.world_size)
            optimizer.step()
            losses.update(loss_dict)
        self._write_metrics(losses, data_time)

    def state_dict(self):
        state = {"optimizer": self.optimizer.state_dict(), "rng": _rng_state()}
        if self.optimizer_d is not None:
            state["optimizer_d"] = self.optimizer_d.state_dict()
        return state

    def load_state_dict(self, state_dict):
        self.optimizer.load_state_dict(state_dict["optimizer"])
        if self.optimizer_d is not None:
            self.optimizer_d.load_state_dict(state_dict["optimizer_d"])
        self._resumed_rng = state_dict.get("rng")


def _broadcast(tensors):
    for t in tensors:
        torch.distributed.broadcast(t.data, src=0)


def _average_gradients(params, world_size):
    params = [p for p in params if p.requires_grad]
    for p in params:
        if p.grad is None:
            p.grad = torch.zeros_like(p)
    flat = torch.cat([p.grad.reshape(-1) for p in params])
    torch.distributed.all_reduce(flat)
    flat /= world_size
    offset = 0
    for p in params:
        n = p.numel()
        p.grad.copy_(flat[offset : offset + n].view_as(p.grad))
        offset += n


def _rng_state():
    """The global generators' states in types the safe checkpoint loader reads (tensors,
    builtin containers and scalars)."""
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    return {
        "torch": torch.get_rng_state(),
        "python": random.getstate(),
        "numpy": (kind, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, gauss),
    }


def _set_rng_state(state):
    torch.set_rng_state(state["torch"])
    random.setstate(state["python"])
    kind, keys, pos, has_gauss, gauss = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, gauss))


class TwoPlayerLRScheduler(HookBase):
    """Steps the G and D schedulers after every iteration and logs their LRs (``lr``,
    ``lr_D``); one hook holding both, so that both states are saved in the checkpoint
    (detectron2 saves only the first hook of a class)."""

    def __init__(self, schedulers):
        self.schedulers = schedulers

    def after_step(self):
        storage = self.trainer.storage
        for player, name in (("G", "lr"), ("D", "lr_D")):
            if player not in self.schedulers:
                continue
            opt = self.schedulers[player].optimizer
            storage.put_scalar(name, opt.param_groups[0]["lr"], smoothing_hint=False)
            self.schedulers[player].step()

    def state_dict(self):
        return {player: s.state_dict() for player, s in self.schedulers.items()}

    def load_state_dict(self, state_dict):
        for player, s in self.schedulers.items():
            s.load_state_dict(state_dict[player])


class ImageGridHook(HookBase):
    """Every ``period`` iterations (and after the last), the model's current visuals (its
    ``visuals()``: named (N, C, H, W) tensors in [-1, 1] of the last training batch, e.g. input
    | output | target) as one grid row per image: written to TensorBoard (``storage.put_image``)
    and to ``OUTPUT_DIR/images/iter_<N>.png``."""

    def __init__(self, period, output_dir, max_images=4):
        self.period = period
        self.output_dir = output_dir
        self.max_images = max_images

    def after_step(self):
        it = self.trainer.iter + 1
        if self.period > 0 and (it % self.period == 0 or it == self.trainer.max_iter):
            self.write(it)

    def write(self, iteration):
        visuals = self.trainer.model.visuals()
        if not visuals or not comm.is_main_process():
            return
        names = list(visuals)
        rows = []
        for i in range(min(self.max_images, len(visuals[names[0]]))):
            row = [_to_rgb(visuals[n][i]) for n in names]
            rows.append(torch.cat(row, dim=2))
        grid = torch.cat(rows, dim=1)  # (3, rows*H, cols*W) in [0, 1]
        get_event_storage().put_image(" | ".join(names), grid)
        folder = os.path.join(self.output_dir, "images")
        os.makedirs(folder, exist_ok=True)
        array = (grid.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
        Image.fromarray(array).save(os.path.join(folder, f"iter_{iteration:07d}.png"))


def _to_rgb(image):
    image = image.detach().float().cpu()
    if image.shape[0] == 1:
        image = image.expand(3, -1, -1)
    return ((image[:3] + 1) / 2).clamp(0, 1)


class TwoPlayerTrainer(Trainer):
    """:class:`Trainer` for two-player (generator / discriminator) models; see the module
    docstring. Evaluation, the mapper registry, the safe :class:`Checkpointer` and the CPU
    multi-process launch are the project :class:`Trainer`'s."""

    def __init__(self, cfg):
        if cfg.SOLVER.AMP.ENABLED:
            raise ValueError("SOLVER.AMP.ENABLED: mixed precision is not supported for GAN models")
        check_datasets(cfg)
        TrainerBase.__init__(self)
        if not logging.getLogger("detectron2").isEnabledFor(logging.INFO):
            setup_logger()
        cfg = DefaultTrainer.auto_scale_workers(cfg, comm.get_world_size())
        model = self.build_model(cfg)
        optimizers = self.build_optimizers(cfg, model)
        data_loader = self.build_train_loader(cfg)
        self._trainer = TwoPlayerStep(model, data_loader, optimizers["G"], optimizers.get("D"))
        self.iters_per_epoch = self.iterations_per_epoch(cfg)
        self.schedulers = self.build_lr_schedulers(cfg, optimizers, self.iters_per_epoch)
        self.scheduler = self.schedulers["G"]
        self.checkpointer = Checkpointer(model, cfg.OUTPUT_DIR, trainer=weakref.proxy(self))
        self.start_iter = 0
        self.max_iter = cfg.SOLVER.MAX_ITER
        self.cfg = cfg
        self.register_hooks(self.build_hooks())

    @classmethod
    def build_optimizers(cls, cfg, model):
        """One Adam per player of the model (``SOLVER.GAN.BASE_LR_G`` / ``BASE_LR_D``,
        ``BETAS``, ``WEIGHT_DECAY``), over the parameters of the player's networks, as the
        official code."""
        gan = cfg.SOLVER.GAN
        lrs = {"G": gan.BASE_LR_G, "D": gan.BASE_LR_D}
        return {
            player: torch.optim.Adam(
                list(model.player_parameters(player)),
                lr=lrs[player],
                betas=tuple(gan.BETAS),
                weight_decay=gan.WEIGHT_DECAY,
            )
            for player in ("G", "D")
            if player in model.players
        }

    @classmethod
    def iterations_per_epoch(cls, cfg):
        """``SOLVER.GAN.ITERS_PER_EPOCH``, or when 0 the official epoch: one pass over the
        training sets (``ceil(len / SOLVER.IMS_PER_BATCH)``, the last batch partial)."""
        if cfg.SOLVER.GAN.ITERS_PER_EPOCH > 0:
            return cfg.SOLVER.GAN.ITERS_PER_EPOCH
        size = sum(len(DatasetCatalog.get(name)) for name in cfg.DATASETS.TRAIN)
        return max(1, math.ceil(size / cfg.SOLVER.IMS_PER_BATCH))

    @classmethod
    def build_lr_schedulers(cls, cfg, optimizers, iters_per_epoch):
        """Per-iteration ``LambdaLR`` s: ``multistep`` changes the factor at the iterations of
        ``SOLVER.GAN.STEPS``; the other policies once per epoch (the official schedulers are
        stepped at the end of each epoch)."""
        gan = cfg.SOLVER.GAN
        if gan.LR_POLICY == "multistep":
            rule = multistep_lambda(gan.STEPS, gan.GAMMA)
        else:
            per_epoch = epoch_lambda(
                gan.LR_POLICY, gan.N_EPOCHS, gan.N_EPOCHS_DECAY, gan.EPOCH_COUNT, gan.LR_DECAY_ITERS
            )

            def rule(it):
                return per_epoch(it // iters_per_epoch)

        return {
            player: torch.optim.lr_scheduler.LambdaLR(opt, rule)
            for player, opt in optimizers.items()
        }

    @classmethod
    def build_optimizer(cls, cfg, model):
        raise NotImplementedError("two-player models have two optimizers: see build_optimizers")

    @classmethod
    def build_train_loader(cls, cfg):
        """detectron2's training loader (no aspect-ratio grouping: the official crops are
        square) on a sampler that can resume in its stream."""
        mapper = build_mapper(cfg, is_train=True)
        kwargs = _train_loader_from_config(cfg, mapper=mapper)
        if cfg.DATALOADER.SAMPLER_TRAIN != "TrainingSampler":
            raise ValueError(
                f"DATALOADER.SAMPLER_TRAIN={cfg.DATALOADER.SAMPLER_TRAIN!r}: two-player models "
                "train with 'TrainingSampler'"
            )
        sampler = _ResumableSampler(
            len(kwargs["dataset"]),
            shuffle=not cfg.INPUT.GAN.SERIAL_BATCHES,  # official --serial_batches: in order
            seed=kwargs["sampler"]._seed,
        )
        kwargs.update(sampler=sampler, aspect_ratio_grouping=False)
        loader = build_detection_train_loader(**kwargs)
        loader.resumable_sampler = sampler
        return loader

    def build_hooks(self):
        cfg = self.cfg
        ret = [hooks.IterationTimer(), TwoPlayerLRScheduler(self.schedulers)]
        if comm.is_main_process():
            ret.append(hooks.PeriodicCheckpointer(self.checkpointer, cfg.SOLVER.CHECKPOINT_PERIOD))

        def test_and_save_results():
            self._last_eval_results = self.test(self.cfg, self.model)
            return self._last_eval_results

        ret.append(hooks.EvalHook(cfg.TEST.EVAL_PERIOD, test_and_save_results))
        if comm.is_main_process():
            ret.append(ImageGridHook(cfg.SOLVER.GAN.IMAGE_PERIOD, cfg.OUTPUT_DIR))
            ret.append(hooks.PeriodicWriter(self.build_writers(), period=20))
        return ret

    def resume_or_load(self, resume=True):
        super().resume_or_load(resume=resume)
        per_process = self.cfg.SOLVER.IMS_PER_BATCH // comm.get_world_size()
        self.data_loader.resumable_sampler.skip = self.start_iter * per_process
        self._trainer.restore_rng()
