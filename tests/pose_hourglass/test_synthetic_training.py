"""Slow (`make test-all`): heatmap classification vs coordinate regression on vp_pose_mpii, same
backbone, data and schedule (projects/StackedHourglass/README.md records both numbers)."""

import pytest

from vision_plugins.engine import Trainer, setup_cfg


def _train_and_eval(config, tmp_path):
    cfg = setup_cfg(config, ["OUTPUT_DIR", str(tmp_path), "SEED", "0"])
    trainer = Trainer(cfg)
    trainer.resume_or_load(resume=False)
    trainer.train()
    return Trainer.test(cfg, trainer.model)["pckh"]


@pytest.mark.slow
def test_heatmap_model_reaches_pckh_80(tmp_path):
    res = _train_and_eval("configs/StackedHourglass/shg_2stack_synth_pose_mpii.yaml", tmp_path)
    assert res["PCKh@0.5"] >= 80.0, res


@pytest.mark.slow
def test_regression_baseline_is_reported(tmp_path):
    """No threshold (the comparison is the point); it must train and be evaluated."""
    res = _train_and_eval(
        "configs/StackedHourglass/regression_2stack_synth_pose_mpii.yaml", tmp_path
    )
    print(f"regression baseline PCKh@0.5 = {res['PCKh@0.5']:.1f}")
    assert 0.0 <= res["PCKh@0.5"] <= 100.0 and len([k for k in res if k.startswith("PCKh-")]) > 16
