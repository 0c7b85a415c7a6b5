"""Slow (`make test-all`): the small RetinaFace trains from scratch on vp_faces to the AP and
landmark NME of projects/RetinaFace/README.md."""

import pytest

from tests.training import train_and_evaluate


@pytest.mark.slow
def test_retinaface_mnet_learns_vp_faces(tmp_path):
    config = "configs/RetinaFace/retinaface_mnet025_synth_faces.yaml"
    res = train_and_evaluate(config, tmp_path)["widerface"]
    assert res["AP_easy"] >= 80.0, res
    assert res["NME"] <= 25.0, res  # % of the inter-ocular distance; measured 17.1
