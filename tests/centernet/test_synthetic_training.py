"""Slow (`make test-all`): the small CenterNet-OAP ResNet-18 config trains from scratch on
vp_shapes to the box AP of projects/CenterNet/README.md."""

import pytest

from tests.training import train_and_evaluate


@pytest.mark.slow
def test_centernet_oap_res18_reaches_box_ap_50_on_vp_shapes(tmp_path):
    results = train_and_evaluate(
        "configs/CenterNet/centernet_oap_res18_synth_shapes.yaml", tmp_path
    )
    assert results["bbox"]["AP"] >= 50.0, results
