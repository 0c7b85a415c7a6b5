"""Slow (`make test-all`): the VPSNet ablation of projects/VPSNet/README.md on vp_video_panoptic:
image-only UPSNet trained from scratch, then VPSNet-FuseTrack fine-tuned from it; fusetrack
reaches VPQ >= 40 (mean over k = 0, 5, 10, 15) and beats the image-only model on VPQ^5, ^10, ^15."""

import os

import pytest

from vision_plugins.engine import Trainer, setup_cfg


def _train(config, out, *opts):
    cfg = setup_cfg(config, ["OUTPUT_DIR", str(out), "SEED", "0", *opts])
    trainer = Trainer(cfg)
    trainer.resume_or_load(resume=False)
    trainer.train()
    return Trainer.test(cfg, trainer.model)["video_panoptic_seg"]


@pytest.mark.slow
def test_fusetrack_beats_image_only_upsnet_on_vpq(tmp_path):
    image = _train("configs/VPSNet/upsnet_R_18_FPN_synth_video.yaml", tmp_path / "upsnet")
    weights = os.path.join(tmp_path, "upsnet", "model_final.pth")
    video = _train(
        "configs/VPSNet/vpsnet_R_18_FPN_synth_video_fusetrack.yaml",
        tmp_path / "fusetrack",
        "MODEL.WEIGHTS",
        weights,
    )
    assert video["VPQ"] >= 40.0, video
    for k in (5, 10, 15):
        assert video[f"VPQ@{k}"] > image[f"VPQ@{k}"], (k, video, image)
