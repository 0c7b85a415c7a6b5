"""Shared helper of the slow training tests: train a config from scratch, then evaluate it."""

from vision_plugins.engine import Trainer, setup_cfg


def train_and_evaluate(config, output_dir):
    """Train ``config`` (seed 0, outputs in ``output_dir``) and return ``Trainer.test`` results."""
    cfg = setup_cfg(config, ["OUTPUT_DIR", str(output_dir), "SEED", "0"])
    trainer = Trainer(cfg)
    trainer.resume_or_load(resume=False)
    trainer.train()
    return Trainer.test(cfg, trainer.model)
