"""Slow (`make test-all`): heatmap classification vs coordinate regression on vp_pose_mpii and on
vp_pose_mpii_hard, same backbone, data and schedule (projects/StackedHourglass/README.md records
the numbers)."""

import pytest

from tests.training import train_and_evaluate


@pytest.mark.slow
def test_heatmap_model_reaches_pckh_70(tmp_path):
    config = "configs/StackedHourglass/shg_2stack_synth_pose_mpii.yaml"
    res = train_and_evaluate(config, tmp_path)["pckh"]
    # SEED 0 measured 82.7 with 2 threads and 75.5 with 1 (the summation order of the
    # convolutions differs): the bound leaves room below the lower of the two
    assert res["PCKh@0.5"] >= 70.0, res


@pytest.mark.slow
def test_regression_baseline_is_reported(tmp_path):
    """No threshold (the comparison is the point); it must train and be evaluated."""
    res = train_and_evaluate(
        "configs/StackedHourglass/regression_2stack_synth_pose_mpii.yaml", tmp_path
    )["pckh"]
    print(f"regression baseline PCKh@0.5 = {res['PCKh@0.5']:.1f}")
    assert 0.0 <= res["PCKh@0.5"] <= 100.0 and len([k for k in res if k.startswith("PCKh-")]) > 16


# vp_pose_mpii_hard (#26 item 4): both models at 64² crops, 500 × 16 crops, seed 0; thresholds
# a few points under the values measured here (projects/StackedHourglass/README.md)
# (measured, seeds 0 / 1 / 2: heatmaps 21.5 / 24.0 / 22.4, regression 35.1 / 36.1 / 35.7; both far
# from converged)
HARD_THRESHOLDS = {
    "configs/StackedHourglass/shg_2stack_synth_pose_hard.yaml": 16.0,
    "configs/StackedHourglass/regression_2stack_synth_pose_hard.yaml": 29.0,
}


@pytest.mark.slow
@pytest.mark.parametrize("config", sorted(HARD_THRESHOLDS))
def test_hard_set_reaches_the_measured_pckh(config, tmp_path):
    res = train_and_evaluate(config, tmp_path)["pckh"]
    assert res["PCKh@0.5"] >= HARD_THRESHOLDS[config], res
