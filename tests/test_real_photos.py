"""Every architecture on a real photo (../shared/real/photos, 600 px high) at the official test
size of its COCO / WIDER / MPII / Cityscapes config: ``Predictor`` gives finite outputs inside the
image (random weights: the shapes, ranges and coordinate mapping are what is checked), and the
evaluation loader feeds the model the same tensor (``tests/test_architecture_specs.py`` checks
that for every config)."""

import glob
import os

import cv2
import numpy as np
import pytest
import torch

from tests.tool_scripts import load_tool
from vision_plugins.data.image_io import read_image
from vision_plugins.engine import Predictor, setup_cfg
from vision_plugins.spec import SPECS, spec_for

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PHOTOS = sorted(glob.glob(os.path.join(REPO, "..", "shared", "real", "photos", "*.jpg")))
pytestmark = pytest.mark.skipif(not PHOTOS, reason="../shared/real/photos is absent")

# one official-size config per spec (the regression pose baseline has only its synthetic config)
OFFICIAL = {
    "GeneralizedRCNN": ("Mask-RCNN/keypoint_rcnn_R_50_FPN_1x_coco.yaml", []),
    "GeneralizedRCNN/DensePoseUVROIHeads": (
        "DensePose/densepose_rcnn_R_50_FPN_s1x_legacy.yaml",
        [],
    ),
    "YOLACT": ("YOLACT/yolact_plus_R_50_FPN_550_coco.yaml", []),
    "YolactEdge": ("YolactEdge/yolact_edge_R_50_FPN_550_ytvis.yaml", []),
    "RetinaFace": ("RetinaFace/retinaface_mnet025_widerface.yaml", []),
    "CenterNetOAP": ("CenterNet/centernet_oap_res18_coco.yaml", []),
    "CornerNet": ("CornerNet/cornernet_hg104_coco.yaml", []),
    "CenterNetTriplet": ("CornerNet/centernet_triplet_hg104_coco.yaml", []),
    "StackedHourglassPose": ("StackedHourglass/shg_8stack_mpii.yaml", []),
    "KeypointRegressionPose": ("StackedHourglass/regression_2stack_synth_pose_mpii.yaml", []),
    "UPSNet": ("UPSNet/upsnet_R_50_FPN_coco.yaml", []),
    # RAFT's all-pairs correlation at 1024 px needs GBs; the flow network is not under test here
    "VPSNet": ("VPSNet/vpsnet_R_50_FPN_cityscapes_vps_fusetrack.yaml",
               ["MODEL.VPSNET.FLOW.NAME", "ZeroFlow"]),
    "Pix2Pix": ("Pix2Pix/pix2pix_unet256_facades.yaml", []),
    "CycleGAN": ("CycleGAN/cyclegan_resnet9_horse2zebra.yaml", []),
    # the recipe's style image (a painting) is not here: another real photo is the style
    "FastNeuralStyle": ("FastNeuralStyle/fast_neural_style_coco.yaml",
                        ["INPUT.STYLE.STYLE_IMAGE", PHOTOS[-1] if PHOTOS else ""]),
    "SuperResolution": ("SuperResolution/msrresnet_x4_div2k.yaml", []),
    "SRGAN": ("SuperResolution/srgan_srresnet_x4_paper.yaml", []),
    "ESRGAN": ("SuperResolution/esrgan_rrdb_x4_div2k.yaml", []),
}  # fmt: skip
# super-resolution takes the photo as its low-resolution input: a 4x larger output of a
# 906-pixel-wide photo would cost the full RRDB ~10 TFLOP; it gets the photo at this width
SR_INPUT_WIDTH = 160


def test_every_spec_has_an_official_size_case():
    assert set(OFFICIAL) == set(SPECS)


def _check_instances(inst, h, w, crop_box=None, official_clamp=False):
    """Finite outputs inside the image (top-down pose: inside its person square, which may
    extend past the image border; its box is that square). ``official_clamp``: YOLACT's official
    post-processing clamps x1 / y1 from below and x2 / y2 from above only (a box wholly past a
    border stays there, e.g. y2 = -49 in the yolact_plus_R_50 parity fixture): that is checked."""
    assert inst.image_size == (h, w)
    x0, y0, x1, y1 = crop_box or (0, 0, w, h)
    if inst.has("pred_boxes"):
        boxes = inst.pred_boxes.tensor
        assert torch.isfinite(boxes).all()
        if official_clamp:
            assert (boxes[:, :2] >= 0).all() and (boxes[:, 2] <= w).all()
            assert (boxes[:, 3] <= h).all()
        else:
            assert (boxes[:, 0::2] >= x0 - 1e-3).all() and (boxes[:, 0::2] <= x1 + 1e-3).all()
            assert (boxes[:, 1::2] >= y0 - 1e-3).all() and (boxes[:, 1::2] <= y1 + 1e-3).all()
    if inst.has("scores"):
        assert torch.isfinite(inst.scores).all()
    if inst.has("pred_masks"):
        assert inst.pred_masks.shape[1:] == (h, w)
    if inst.has("pred_keypoints"):
        kp = inst.pred_keypoints
        assert torch.isfinite(kp).all()
        assert (kp[..., 0] >= x0 - 1).all() and (kp[..., 0] <= x1 + 1).all()
        assert (kp[..., 1] >= y0 - 1).all() and (kp[..., 1] <= y1 + 1).all()


@pytest.mark.parametrize("key", sorted(OFFICIAL))
def test_predictor_on_a_real_photo_at_the_official_size(key):
    rel, opts = OFFICIAL[key]
    cfg = setup_cfg(
        os.path.join("configs", rel), ["MODEL.DEVICE", "cpu", "MODEL.WEIGHTS", "", *opts]
    )
    assert spec_for(cfg).key == key
    torch.manual_seed(0)
    predictor = Predictor(cfg)
    image = read_image(PHOTOS[0], format="BGR")
    package = spec_for(cfg).package
    if package == "super_resolution":
        height = round(image.shape[0] * SR_INPUT_WIDTH / image.shape[1])
        image = cv2.resize(image, (SR_INPUT_WIDTH, height), interpolation=cv2.INTER_AREA)
    h, w = image.shape[:2]
    extra = {"video_id": 0} if spec_for(cfg).streaming else {}
    frames = 2 if extra else 1  # a streaming model also runs its second-frame path
    for frame in range(1, frames + 1):
        with torch.no_grad():
            out = predictor(image, frame_id=frame, **extra) if extra else predictor(image)
        assert out, key
        crop = None
        if spec_for(cfg).package == "pose_hourglass":
            s = max(h, w)
            crop = ((w - s) / 2, (h - s) / 2, (w + s) / 2, (h + s) / 2)
        if "instances" in out:
            yolact = spec_for(cfg).package in ("yolact", "yolact_edge")
            _check_instances(out["instances"].to("cpu"), h, w, crop, official_clamp=yolact)
        if "sem_seg" in out:
            assert out["sem_seg"].shape[1:] == (h, w) and torch.isfinite(out["sem_seg"]).all()
        if "panoptic_seg" in out:
            seg, info = out["panoptic_seg"]
            assert seg.shape == (h, w)
            assert set(np.unique(seg.numpy())) <= {0} | {s["id"] for s in info}
        if "image" in out:
            if package == "super_resolution":  # scale x the input
                scale = cfg.INPUT.SR.SCALE
                assert out["image"].shape == (3, scale * h, scale * w)
            elif package == "fast_neural_style":  # the official stylize: the image as it is,
                # through two stride-2 convs and two x2 upsamplings (906 -> 453 -> 227 -> 908)
                assert out["image"].shape == (3, 4 * -(-h // 4), 4 * -(-w // 4))
            else:  # image-to-image: the official test size (load = crop = 256)
                size = cfg.INPUT.GAN.CROP_SIZE
                assert out["image"].shape == (3, size, size)
            assert out["image"].min() >= 0 and out["image"].max() <= 255


SINGLE_STAGE = ["YOLACT", "YolactEdge", "RetinaFace", "CenterNetOAP", "StackedHourglassPose"]


@pytest.mark.parametrize("key", SINGLE_STAGE)
def test_benchmark_runs_on_a_real_photo(key, tmp_path):
    rel, opts = OFFICIAL[key]
    out = tmp_path / "bench.json"
    load_tool("benchmark").main(
        ["--config-file", os.path.join("configs", rel), "--image", PHOTOS[0], "--threads", "2",
         "--warmup", "0", "--iters", "1", "--train-iters", "0", "--output", str(out),
         "MODEL.DEVICE", "cpu", *opts]
    )  # fmt: skip
    import json

    result = json.loads(out.read_text())
    assert result["input_hw"] == [600, 906] and result["inference_latency_ms"] > 0
