"""The project decoder (issue #22 item 2): 16-bit (grayscale and RGB), 8-bit grayscale,
grayscale+alpha, RGBA and palette files decode to the model's uint8 3-channel format on every
image path (detectron2's DatasetMapper, the architectures' mappers, Predictor); other files are
refused naming the file."""

import cv2
import numpy as np
import pytest
import torch
from detectron2.data import detection_utils as d2_utils
from PIL import Image

from vision_plugins.data import DataLoadError, build_mapper
from vision_plugins.data.image_io import UnreadableImageError, array_to_bgr, read_image
from vision_plugins.engine import Predictor, setup_cfg

# 16-bit values and their 8-bit decoding: the top byte (v >> 8)
V16 = np.array([[0, 255, 256, 0x1234], [65535, 257 * 7, 257 * 200, 40000]], np.uint16)
V8 = np.array([[0, 0, 1, 0x12], [255, 7, 200, 156]], np.uint8)


def _rgb_pattern(h=2, w=4):
    rgb = np.zeros((h, w, 3), np.uint8)
    rgb[..., 0] = np.arange(w) * 40 + 10
    rgb[..., 1] = np.arange(h)[:, None] * 90 + 20
    rgb[..., 2] = 200
    return rgb


def _write(tmp_path, kind):
    """``(path, expected RGB uint8 H×W×3)`` of a generated file of ``kind``."""
    path = str(tmp_path / f"{kind}.png")
    if kind == "gray16":
        Image.fromarray(V16).save(path)  # PIL mode I;16
        return path, np.repeat(V8[..., None], 3, 2)
    if kind == "rgb16":
        cv2.imwrite(path, np.stack([V16, V16 // 2, V16 // 3], -1))  # 16-bit BGR PNG
        return path, np.stack([V16 // 3, V16 // 2, V16], -1).astype(np.uint32) >> 8
    if kind == "gray8":
        Image.fromarray(V8).save(path)
        return path, np.repeat(V8[..., None], 3, 2)
    rgb = _rgb_pattern()
    if kind == "gray_alpha":
        Image.fromarray(np.stack([V8, 255 - V8], -1), "LA").save(path)
        return path, np.repeat(V8[..., None], 3, 2)
    if kind == "rgba":
        Image.fromarray(np.concatenate([rgb, np.zeros_like(rgb[..., :1])], -1), "RGBA").save(path)
        return path, rgb  # alpha dropped, colours kept
    if kind == "palette":
        index = np.array([[0, 1, 2, 1], [2, 0, 1, 0]], np.uint8)
        palette = np.array([[10, 20, 30], [200, 100, 50], [0, 255, 7]], np.uint8)
        image = Image.fromarray(index, "P")
        image.putpalette(palette.ravel().tolist())
        image.save(path, transparency=0)
        return path, palette[index]
    raise ValueError(kind)


KINDS = ["gray16", "rgb16", "gray8", "gray_alpha", "rgba", "palette"]


@pytest.mark.parametrize("kind", KINDS)
def test_read_image_decodes_every_mode_to_uint8_three_channels(tmp_path, kind):
    path, rgb = _write(tmp_path, kind)
    for fmt, expected in (("RGB", rgb), ("BGR", rgb[..., ::-1])):
        image = read_image(path, fmt)
        assert image.dtype == np.uint8 and image.shape == (2, 4, 3), (kind, fmt)
        np.testing.assert_array_equal(image, expected, err_msg=f"{kind} {fmt}")


def test_16bit_grayscale_keeps_the_top_byte_exactly(tmp_path):
    path, _ = _write(tmp_path, "gray16")
    assert Image.open(path).mode == "I;16"
    gray = read_image(path, "BGR")
    np.testing.assert_array_equal(gray[..., 0], V8)  # 255 -> 0, 256 -> 1, 65535 -> 255
    # a 16-bit RGB file of the same picture decodes to the same 8-bit image (PIL keeps its top
    # byte too)
    rgb_path = str(tmp_path / "same16.png")
    cv2.imwrite(rgb_path, np.stack([V16] * 3, -1))
    np.testing.assert_array_equal(read_image(rgb_path, "BGR"), gray)


def test_detectron2_read_image_uses_the_project_decoder_for_images_only(tmp_path):
    path, rgb = _write(tmp_path, "gray16")
    np.testing.assert_array_equal(d2_utils.read_image(path, "RGB"), rgb)  # was 255 (white)
    np.testing.assert_array_equal(d2_utils.read_image(path, "BGR"), rgb)
    label_path = str(tmp_path / "labels.png")
    Image.fromarray(np.array([[0, 3], [250, 7]], np.uint8)).save(label_path)
    # label maps ("L") still go to detectron2 unchanged
    np.testing.assert_array_equal(d2_utils.read_image(label_path, "L")[..., 0], [[0, 3], [250, 7]])


@pytest.mark.parametrize(
    "name,content,match",
    [("float.tiff", None, "float"),
     ("truncated.jpg", "truncated", "truncated"),
     ("empty.png", b"", "empty.png"),
     ("garbage.png", b"\x89PNG\r\n\x1a\n garbage", "garbage.png")],
)  # fmt: skip
def test_unreadable_files_are_refused_naming_the_file(tmp_path, name, content, match):
    path = tmp_path / name
    if content is None:
        Image.fromarray(np.ones((2, 3), np.float32)).save(path)
    elif content == "truncated":
        ok, data = cv2.imencode(".jpg", np.random.default_rng(0).integers(0, 255, (64, 64, 3)))
        path.write_bytes(data.tobytes()[: len(data) // 2])
    else:
        path.write_bytes(content)
    with pytest.raises(UnreadableImageError, match=match) as e:
        read_image(str(path), "BGR")
    assert str(path) in str(e.value)


# one config per mapper class: detectron2's DatasetMapper (Mask R-CNN), DensePose, YOLACT,
# YolactEdge, UPSNet's and VPSNet's panoptic mappers, RetinaFace, the top-down pose mapper
MAPPER_CONFIGS = [
    "Mask-RCNN/mask_rcnn_R_18_FPN_synth_shapes.yaml",
    "DensePose/densepose_rcnn_R_18_FPN_synth_densepose.yaml",
    "YOLACT/yolact_R_18_FPN_synth_shapes.yaml",
    "YolactEdge/yolact_edge_R_18_FPN_synth_video_joint.yaml",
    "UPSNet/upsnet_R_18_FPN_synth_panoptic.yaml",
    "VPSNet/vpsnet_R_18_FPN_synth_video_fuse.yaml",
    "RetinaFace/retinaface_mnet025_synth_faces.yaml",
    "StackedHourglass/shg_2stack_synth_pose_mpii.yaml",
]


@pytest.mark.parametrize("rel", MAPPER_CONFIGS)
def test_every_mapper_and_predictor_decode_16bit_gray_and_rgba(tmp_path, rel):
    """Each mapper (and Predictor, on the arrays cv2 gives for the same files) gives the model
    the same tensor for a 16-bit grayscale / RGBA file as for the 8-bit RGB file it decodes to."""
    cfg = setup_cfg(f"configs/{rel}", ["MODEL.DEVICE", "cpu"])
    mapper = build_mapper(cfg, is_train=False)
    predictor = Predictor(cfg, model=torch.nn.Module())
    rng = np.random.default_rng(1)
    v16 = rng.integers(0, 65536, (24, 32), dtype=np.uint16)
    bgra = rng.integers(0, 256, (24, 32, 4), dtype=np.uint8)
    cv2.imwrite(str(tmp_path / "gray16.png"), v16)
    cv2.imwrite(str(tmp_path / "gray16_as8.png"), np.stack([(v16 >> 8).astype(np.uint8)] * 3, -1))
    cv2.imwrite(str(tmp_path / "bgra.png"), bgra)
    cv2.imwrite(str(tmp_path / "bgra_as8.png"), bgra[..., :3])

    def mapped(name):
        d = {"file_name": str(tmp_path / name), "height": 24, "width": 32, "image_id": 0}
        if "VPSNet" in rel or "YolactEdge" in rel:
            d.update(video_id=0, frame_id=1)
        return mapper(d)["image"]

    for name in ("gray16", "bgra"):
        expected = mapped(f"{name}_as8.png")
        assert torch.equal(mapped(f"{name}.png"), expected), (rel, name)
        array = cv2.imread(str(tmp_path / f"{name}.png"), cv2.IMREAD_UNCHANGED)  # uint16 / BGRA
        assert torch.equal(predictor.preprocess(array)["image"], expected.float()), (rel, name)


def test_mapper_refuses_a_float_image_naming_the_file(tmp_path):
    path = tmp_path / "depth.tiff"
    Image.fromarray(np.ones((128, 128), np.float32)).save(path)
    cfg = setup_cfg("configs/Mask-RCNN/mask_rcnn_R_18_FPN_synth_shapes.yaml")
    d = {"file_name": str(path), "height": 128, "width": 128, "image_id": 0}
    with pytest.raises(DataLoadError, match="depth.tiff.*float"):
        build_mapper(cfg, is_train=False)(d)


def test_array_to_bgr_scales_uint16_and_drops_alpha_or_refuses():
    np.testing.assert_array_equal(array_to_bgr(V16), np.repeat(V8[..., None], 3, 2))
    bgra = np.dstack([_rgb_pattern(), np.full((2, 4), 9, np.uint8)])
    np.testing.assert_array_equal(array_to_bgr(bgra), bgra[..., :3])
    with pytest.raises(ValueError, match="dtype int32"):
        array_to_bgr(np.zeros((2, 4, 3), np.int32))
    with pytest.raises(ValueError, match="H×W×3 BGR or H×W grayscale"):
        array_to_bgr(np.zeros((2, 4, 2), np.uint8))
