"""Slow (`make test-all`): the small YOLACT config trains from scratch on vp_shapes to the mask AP
of projects/YOLACT/README.md."""

import pytest

from tests.training import train_and_evaluate


@pytest.mark.slow
def test_yolact_r18_reaches_segm_ap_40_on_vp_shapes(tmp_path):
    results = train_and_evaluate("configs/YOLACT/yolact_R_18_FPN_synth_shapes.yaml", tmp_path)
    assert results["segm"]["AP"] >= 40.0, results
