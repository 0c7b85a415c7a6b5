"""Optional: DensePose R-CNN against detectron2's DensePose project itself.

Set ``VP_OFFICIAL_DENSEPOSE=/path/to/detectron2/projects/DensePose``; skipped when unset. The
upstream legacy model (``densepose_rcnn_R_50_FPN_s1x_legacy.yaml``, random weights) is built, its
state dict loaded **unchanged** into ours, and both are compared: the DensePose maps of the same
detections, and the four losses of the same predictor outputs on vp_densepose ground truth.
"""

import os

import pytest
import torch
from detectron2.config import get_cfg
from detectron2.data import DatasetCatalog
from detectron2.modeling import build_model
from detectron2.structures import Boxes, Instances

from tests.official.densepose import official_densepose
from vision_plugins.data.densepose import DensePoseList, DensePoseUVTarget
from vision_plugins.densepose_uv.heads import DensePoseUVOutput
from vision_plugins.densepose_uv.losses import densepose_uv_losses
from vision_plugins.engine import setup_cfg

OFFICIAL = os.environ.get("VP_OFFICIAL_DENSEPOSE")
pytestmark = pytest.mark.skipif(
    not OFFICIAL, reason="set VP_OFFICIAL_DENSEPOSE to projects/DensePose"
)


@pytest.fixture(scope="module")
def upstream():
    with official_densepose(OFFICIAL) as densepose:
        cfg = get_cfg()
        densepose.add_densepose_config(cfg)
        cfg.merge_from_file(
            os.path.join(OFFICIAL, "configs", "densepose_rcnn_R_50_FPN_s1x_legacy.yaml")
        )
        cfg.MODEL.DEVICE = "cpu"
        cfg.MODEL.WEIGHTS = ""
        torch.manual_seed(0)
        yield densepose, cfg, build_model(cfg).eval()


def test_same_weights_same_densepose_maps(upstream):
    _, _, theirs = upstream
    cfg = setup_cfg(
        "configs/DensePose/densepose_rcnn_R_50_FPN_s1x_legacy.yaml", ["MODEL.WEIGHTS", ""]
    )
    ours = build_model(cfg).eval()
    ours.load_state_dict(theirs.state_dict(), strict=True)  # the same names: no conversion
    torch.manual_seed(1)
    feats = {
        f: torch.randn(1, 256, 64 // s, 64 // s)
        for f, s in (("p2", 1), ("p3", 2), ("p4", 4), ("p5", 8))
    }
    inst = Instances((256, 256))
    inst.pred_boxes = Boxes(torch.tensor([[10.0, 20.0, 120.0, 200.0], [50.0, 5.0, 250.0, 90.0]]))
    inst.pred_classes = torch.zeros(2, dtype=torch.long)
    with torch.no_grad():
        a = theirs.roi_heads.forward_with_given_boxes(feats, [inst[:]])[0].pred_densepose
        b = ours.roi_heads.forward_with_given_boxes(feats, [inst[:]])[0].pred_densepose
    for name in ("coarse_segm", "fine_segm", "u", "v"):
        assert torch.allclose(getattr(a, name), getattr(b, name), atol=1e-5), name


def test_same_losses_on_vp_densepose_ground_truth(upstream):
    densepose, cfg, _ = upstream
    from densepose.modeling.losses.chart import DensePoseChartLoss
    from densepose.structures import DensePoseChartPredictorOutput, DensePoseDataRelative
    from densepose.structures import DensePoseList as UpstreamList

    d = next(
        d
        for d in DatasetCatalog.get("vp_densepose_train")
        if any("dp_x" in a for a in d["annotations"])
    )
    ann = next(a for a in d["annotations"] if "dp_x" in a)
    x, y, w, h = ann["bbox"]
    gt = torch.tensor([[x, y, x + w, y + h]] * 3)
    proposals = torch.tensor(
        [
            [x, y, x + w, y + h],
            [x - 2, y + 1, x + w - 1, y + h + 3],
            [x + 1, y - 2, x + w + 2, y + h - 1],
        ]
    )
    g = torch.Generator().manual_seed(0)
    size = 56
    out = [torch.randn(3, 15, size, size, generator=g), torch.randn(3, 25, size, size, generator=g)]
    out += [torch.rand(3, 25, size, size, generator=g), torch.rand(3, 25, size, size, generator=g)]
    theirs = Instances((d["height"], d["width"]))
    theirs.proposal_boxes, theirs.gt_boxes = Boxes(proposals), Boxes(gt)
    data = DensePoseDataRelative(
        {k: ann[k] for k in ("dp_x", "dp_y", "dp_I", "dp_U", "dp_V", "dp_masks")}
    )
    theirs.gt_densepose = UpstreamList([data] * 3, theirs.gt_boxes, theirs.image_size)
    expected = DensePoseChartLoss(cfg)([theirs], DensePoseChartPredictorOutput(*out))
    mine = Instances(theirs.image_size)
    mine.proposal_boxes, mine.gt_boxes = Boxes(proposals), Boxes(gt)
    mine.gt_densepose = DensePoseList([DensePoseUVTarget.from_annotation(ann)] * 3)
    losses = densepose_uv_losses(DensePoseUVOutput(*out), [mine], 2.0, 0.3, 0.1)
    for k in "IUVS":
        key = f"loss_densepose_{k}"
        assert losses[key].item() == pytest.approx(expected[key].item(), rel=1e-5, abs=1e-6), key
