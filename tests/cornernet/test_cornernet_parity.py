"""CI parity with princeton-vl/CornerNet @e5c39a3 and Duankaiwen/CenterNet @3ad3a10 on the shared
fixtures (README_cornernet.md): preprocessing, raw last-stack heads, decoding of the recorded
heads alone, and end to end (rows matched one-to-one by class and nearest box)."""

import re

import numpy as np
import pytest
import torch

from tests.parity import converted_model, load_fixture, requires_fixtures
from vision_plugins.cornernet.postprocess import corner_decode

pytestmark = requires_fixtures
FIXTURES = {
    "cornernet_hg104": ("cornernet", "CornerNet/cornernet_hg104_coco.yaml"),
    "centernet_triplet_hg104": ("centernet_triplet", "CornerNet/centernet_triplet_hg104_coco.yaml"),
}
# README_cornernet.md's tolerances, measured on the official model with AVX-512 and with AVX2
# ATen/oneDNN/MKL kernels (the weights are numpy-drawn, the same on every CPU): raw last-stack
# heats (after sigmoid) 1e-3, tags and regressions 3e-3; end to end, boxes and centre x/y 2e-3,
# scores 1e-3; decode of the recorded heads alone 1e-6 (positional).
HEAT_TOL, TAG_REGR_TOL = 1e-3, 3e-3
XY_TOL, SCORE_TOL = 2e-3, 1e-3
DECODE_TOL = 1e-6


def _match(expected_rows, ours, cls_col, xy_cols, score_col, xy_tol, score_tol):
    """Each expected row <-> the unused row of ``ours`` with its class and the nearest
    coordinates; coordinates and scores within the tolerances."""
    used = np.zeros(len(ours), bool)
    for row in expected_rows:
        cand = np.flatnonzero((ours[:, cls_col] == row[cls_col]) & ~used)
        assert len(cand), f"no row of class {row[cls_col]} left for {row}"
        d = np.abs(ours[cand][:, xy_cols] - row[xy_cols]).max(1)
        k = cand[d.argmin()]
        used[k] = True
        np.testing.assert_allclose(ours[k, xy_cols], row[xy_cols], rtol=0, atol=xy_tol)
        assert abs(ours[k, score_col] - row[score_col]) <= score_tol, (ours[k], row)


@pytest.mark.parametrize("name", sorted(FIXTURES))
def test_cornernet_family_parity(tmp_path, name):
    arch, config = FIXTURES[name]
    manifest, state_dict, image, expected = load_fixture(name)
    if name == "cornernet_hg104":  # the released CornerNet file (torch 0.4.0) has none of these
        state_dict = {k: v for k, v in state_dict.items() if "num_batches_tracked" not in k}
    cfg, model, _ = converted_model(tmp_path, arch, state_dict, config)
    d = manifest["decode"]
    assert model.decode_args == {
        "k": d["K"],
        "kernel": d["kernel"],
        "ae_threshold": d["ae_threshold"],
        "num_dets": d["num_dets"],
    }
    center = name.startswith("centernet")
    with torch.no_grad():
        img = torch.as_tensor(image.transpose(2, 0, 1).astype(np.float32))
        x = ((img - model.pixel_mean) / model.pixel_std)[None]
        np.testing.assert_allclose(
            x[0].double().sum((1, 2)).numpy(), expected["input_channel_sums"], rtol=0, atol=1e-2
        )
        out = model.forward_heads(x)[0]
        for k in ("tl", "br") + (("ct",) if center else ()):
            np.testing.assert_allclose(
                out[k + "_heat"].sigmoid().numpy(), expected[k + "_heat"], rtol=0, atol=HEAT_TOL
            )
            np.testing.assert_allclose(
                out[k + "_regr"].numpy(), expected[k + "_regr"], rtol=0, atol=TAG_REGR_TOL
            )
        for k in ("tl", "br"):
            np.testing.assert_allclose(
                out[k + "_tag"].numpy(), expected[k + "_tag"], rtol=0, atol=TAG_REGR_TOL
            )
        # decode alone, on the recorded (already sigmoided) heads
        rec = {k: torch.from_numpy(v) for k, v in expected.items()}
        dets, centres = corner_decode(
            rec["tl_heat"],
            rec["br_heat"],
            rec["tl_tag"],
            rec["br_tag"],
            rec["tl_regr"],
            rec["br_regr"],
            rec.get("ct_heat"),
            rec.get("ct_regr"),
            **model.decode_args,
        )
        ours_e2e, centres_e2e = model.decode(out)
    valid = expected["valid_detections"]
    n = len(valid)
    dets = dets[0].numpy()
    assert (dets[:, 4] > -1).sum() == n
    np.testing.assert_allclose(dets[:n], valid, rtol=0, atol=DECODE_TOL)
    if center:
        np.testing.assert_allclose(centres[0].numpy(), expected["centers"], rtol=0, atol=DECODE_TOL)
    # end to end
    ours = ours_e2e[0].numpy()
    ours = ours[ours[:, 4] > -1]
    assert len(ours) == n
    _match(valid, ours, 7, [0, 1, 2, 3], 4, XY_TOL, SCORE_TOL)
    if center:
        _match(expected["centers"], centres_e2e[0].numpy(), 2, [0, 1], 3, XY_TOL, SCORE_TOL)


def test_cornernet_lite_layout_converts_to_the_same_weights(tmp_path):
    """CornerNet-Lite's CornerNet holds the same weights under other names."""
    from vision_plugins.checkpoint import CONVERTERS

    _, state_dict, _, _ = load_fixture("cornernet_hg104")
    lite = {}
    for key, value in state_dict.items():
        key = key[len("module.") :]
        for old, new in (
            ("kps.", "hg.hgs."),
            ("tl_cnvs.", "tl_modules."),
            ("br_cnvs.", "br_modules."),
            ("tl_regrs.", "tl_offs."),
            ("br_regrs.", "br_offs."),
        ):
            if key.startswith(old):
                key = new + key[len(old) :]
        if key.startswith(("pre.", "cnvs.", "inters.", "inters_.", "cnvs_.")):
            key = "hg." + key
        lite["module." + key] = value
    a = CONVERTERS["cornernet"].convert(state_dict)
    b = CONVERTERS["cornernet_lite"].convert(lite)
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_one_stack_checkpoint_converts_and_wrong_family_is_refused():
    """A 1-stack file (Duan's CenterNet-52 layout: stack 0 only, no inter-stack layers) converts
    with NUM_STACKS read from the file; a Triplet file is refused by the CornerNet converter."""
    from vision_plugins.checkpoint import CONVERTERS, CheckpointFormatError

    _, sd, _, _ = load_fixture("centernet_triplet_hg104")
    one = {k: v for k, v in sd.items()
           if not re.match(r"module\.(?!pre\.)(\w+\.1\.|inters|cnvs_\.)", k)}  # fmt: skip
    out = CONVERTERS["centernet_triplet"].convert(one)
    assert "backbone.kps.0.up1.0.conv1.weight" in out and "ct_heats.0.1.weight" in out
    assert not any(k.startswith("backbone.kps.1.") for k in out)
    with pytest.raises(CheckpointFormatError, match="--arch centernet_triplet"):
        CONVERTERS["cornernet"].convert(sd)
