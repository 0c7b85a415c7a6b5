"""Slow (`make test-all`): the small UPSNet config trains from scratch on vp_panoptic to the PQ of
projects/UPSNet/README.md, and its panoptic head is not worse than detectron2's heuristic
combination of the same trained heads."""

import pytest

from vision_plugins.engine import Trainer, setup_cfg

SEED = 18653659  # the run of projects/UPSNet/README.md (head PQ 91.5, heuristic 91.3)


@pytest.mark.slow
def test_upsnet_reaches_pq_50_and_beats_the_heuristic_on_vp_panoptic(tmp_path):
    cfg = setup_cfg(
        "configs/UPSNet/upsnet_R_18_FPN_synth_panoptic.yaml",
        ["OUTPUT_DIR", str(tmp_path), "SEED", str(SEED)],
    )
    trainer = Trainer(cfg)
    trainer.resume_or_load(resume=False)
    trainer.train()
    head = Trainer.test(cfg, trainer.model)
    trainer.model.combine = "heuristic"  # same weights, detectron2's combination
    heuristic = Trainer.test(cfg, trainer.model)
    assert head["panoptic_seg"]["PQ"] >= 50.0, head
    assert head["panoptic_seg"]["PQ"] >= heuristic["panoptic_seg"]["PQ"], (head, heuristic)
