"""Slow (`make test-all`): the small CornerNet and CenterNet-Triplet configs train from scratch on
vp_shapes to the box AP of projects/CornerNet/README.md."""

import pytest

from tests.training import train_and_evaluate


@pytest.mark.slow
@pytest.mark.parametrize(
    "config",
    ["configs/CornerNet/cornernet_hg_small_synth_shapes.yaml",
     "configs/CornerNet/centernet_triplet_hg_small_synth_shapes.yaml"],
)  # fmt: skip
def test_small_hourglass_reaches_box_ap_40_on_vp_shapes(tmp_path, config):
    results = train_and_evaluate(config, tmp_path)
    assert results["bbox"]["AP"] >= 40.0, results
