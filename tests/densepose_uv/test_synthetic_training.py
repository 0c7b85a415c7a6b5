"""Slow (`make test-all`): the small DensePose R-CNN trains from scratch on vp_densepose to the
part accuracy and GPS AP of projects/DensePose/README.md."""

import pytest

from tests.training import train_and_evaluate


@pytest.mark.slow
def test_densepose_reaches_part_accuracy_80_and_gps_ap_30_on_vp_densepose(tmp_path):
    results = train_and_evaluate(
        "configs/DensePose/densepose_rcnn_R_18_FPN_synth_densepose.yaml", tmp_path
    )
    assert results["densepose_points"]["part_accuracy"] >= 80.0, results
    assert results["densepose_gps"]["AP"] >= 30.0, results
