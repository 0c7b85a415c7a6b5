#!/usr/bin/env python
"""Train or evaluate any vision_plugins (or plain detectron2) model.

    python tools/train_net.py --config-file configs/Mask-RCNN/mask_rcnn_R_18_FPN_synth_shapes.yaml
    python tools/train_net.py --config-file ... --eval-only MODEL.WEIGHTS output/model_final.pth
    python tools/train_net.py --config-file ... --resume          # continue from OUTPUT_DIR
    python tools/train_net.py --config-file ... --num-gpus 2      # 2 processes (gloo on CPU)

Runs on CPU when CUDA is absent. Without CUDA, ``--num-gpus N`` starts N CPU processes that train
with DistributedDataParallel over gloo (SOLVER.IMS_PER_BATCH is the total over processes and must
be divisible by N); each process gets cores/N intra-op threads.
"""

import vision_plugins  # noqa: F401  # isort: skip  (first: registers; quiets dependency warnings)
import logging
import os

import torch
from detectron2.engine import default_argument_parser, default_setup, launch
from detectron2.utils import comm
from detectron2.utils.logger import setup_logger

from vision_plugins.checkpoint import Checkpointer
from vision_plugins.engine import Trainer, setup_cfg, trainer_class


def setup(args):
    cfg = setup_cfg(args.config_file, args.opts)
    default_setup(cfg, args)
    setup_logger(cfg.OUTPUT_DIR, distributed_rank=comm.get_rank(), name="vision_plugins")
    return cfg


def _cpu_threads(num_procs):
    if not torch.cuda.is_available() and num_procs > 1:
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // num_procs))


def main(args):
    _cpu_threads(comm.get_local_size())
    cfg = setup(args)
    if args.eval_only:
        model = Trainer.build_model(cfg)
        checkpointer = Checkpointer(model, save_dir=cfg.OUTPUT_DIR)
        checkpointer.resume_or_load(cfg.MODEL.WEIGHTS, resume=args.resume)
        if not cfg.MODEL.WEIGHTS and checkpointer.resumed_from is None:
            logging.getLogger("vision_plugins.train_net").warning(
                "--eval-only with an empty MODEL.WEIGHTS (and nothing resumed): evaluating a "
                "randomly initialised model (set MODEL.WEIGHTS to a trained checkpoint)"
            )
        return Trainer.test(cfg, model)
    trainer = trainer_class(cfg)(cfg)
    trainer.resume_or_load(resume=args.resume)
    return trainer.train()


def check_launch_args(args):
    """Explain, instead of failing inside torch, multi-process settings that cannot work."""
    if args.num_gpus < 1:
        raise SystemExit(f"--num-gpus must be >= 1 (got {args.num_gpus})")
    if torch.cuda.is_available():
        if args.num_gpus > torch.cuda.device_count():
            raise SystemExit(
                f"--num-gpus {args.num_gpus} but only {torch.cuda.device_count()} CUDA devices"
            )
        return
    cores = os.cpu_count() or 1
    if args.num_gpus > cores:
        raise SystemExit(
            f"no CUDA: --num-gpus {args.num_gpus} would start {args.num_gpus} CPU processes on "
            f"{cores} cores; pass --num-gpus {cores} or fewer"
        )


if __name__ == "__main__":
    args = default_argument_parser().parse_args()
    check_launch_args(args)
    print("Command Line Args:", args)
    launch(
        main,
        args.num_gpus,
        num_machines=args.num_machines,
        machine_rank=args.machine_rank,
        dist_url=args.dist_url,
        args=(args,),
    )
