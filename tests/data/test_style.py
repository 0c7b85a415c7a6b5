"""Style-transfer data (vision_plugins.data.style): the official content transform (torchvision
``Resize(int)`` + ``CenterCrop`` on PIL images) reproduced exactly, the style image loader, the
content-folder dataset, the synthetic vp_style sets, and the style-image lookup."""

import numpy as np
import pytest
import torch
from detectron2.config import get_cfg
from detectron2.data import DatasetCatalog, MetadataCatalog
from PIL import Image
from torchvision import transforms

from vision_plugins.data.style import (
    StyleMapper,
    StyleResize,
    add_style_input_config,
    build_style_test_augmentation,
    load_content_folder,
    load_style_image,
    register_style_dataset,
    render_style,
    style_image_path,
)
from vision_plugins.data.synthetic import ensure_generated


def _image(tmp_path, name, h, w, seed=0):
    rng = np.random.default_rng(seed)
    array = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)
    return path, array


def _cfg(**style):
    cfg = add_style_input_config(get_cfg())
    for k, v in style.items():
        cfg.INPUT.STYLE[k] = v
    return cfg


@pytest.mark.parametrize("h, w, size", [(64, 80, 48), (81, 60, 32), (50, 50, 50), (37, 90, 37)])
def test_training_transform_is_torchvision_resize_and_center_crop(tmp_path, h, w, size):
    path, array = _image(tmp_path, "a.png", h, w)
    official = transforms.Compose([transforms.Resize(size), transforms.CenterCrop(size)])
    want = np.asarray(official(Image.open(path).convert("RGB")))
    out = StyleMapper(_cfg(SIZE=size), is_train=True)({"file_name": str(path)})
    assert out["image"].dtype == torch.float32 and out["image"].shape == (3, size, size)
    assert np.array_equal(out["image"].numpy().transpose(1, 2, 0).astype(np.uint8), want)
    assert (out["height"], out["width"]) == (h, w)


def test_resize_sizes_by_hand():
    # shorter side -> 48, longer side int(48 * 80 / 64) = 60; int(32 * 81 / 60) = 43
    assert StyleResize(48).get_transform(np.zeros((64, 80, 3))).new_w == 60
    t = StyleResize(32).get_transform(np.zeros((81, 60, 3)))
    assert (t.new_h, t.new_w) == (43, 32)


def test_test_transform_is_identity_by_default_or_resizes(tmp_path):
    path, array = _image(tmp_path, "a.png", 30, 41)
    cfg = _cfg()
    assert build_style_test_augmentation(cfg) == []
    out = StyleMapper(cfg, is_train=False)({"file_name": str(path)})
    assert np.array_equal(out["image"].numpy().transpose(1, 2, 0), array)
    augs = build_style_test_augmentation(_cfg(TEST_SIZE=20))
    assert augs[0].get_transform(array).new_w == 27  # int(20 * 41 / 30)


def test_style_image_loader(tmp_path):
    path, array = _image(tmp_path, "style.png", 20, 30)
    full = load_style_image(str(path))
    assert full.shape == (1, 3, 20, 30) and np.array_equal(
        full[0].numpy().transpose(1, 2, 0), array
    )
    square = load_style_image(str(path), 16)  # official load_image(size=16): LANCZOS, square
    want = np.asarray(Image.open(path).convert("RGB").resize((16, 16), Image.LANCZOS))
    assert np.array_equal(square[0].numpy().transpose(1, 2, 0), want)
    with pytest.raises(FileNotFoundError, match="absent.png"):
        load_style_image(str(tmp_path / "absent.png"))
    with pytest.raises(ValueError, match="INPUT.STYLE.STYLE_IMAGE"):
        load_style_image("")


def test_content_folder_dataset(tmp_path):
    _image(tmp_path, "content/cls/b.jpg", 10, 12)
    _image(tmp_path, "content/a.png", 8, 6)
    (tmp_path / "content" / "notes.txt").write_text("x")
    dicts = load_content_folder(str(tmp_path / "content"))
    assert [d["file_name"].split("content/")[1] for d in dicts] == ["a.png", "cls/b.jpg"]
    assert (dicts[0]["height"], dicts[0]["width"], dicts[1]["image_id"]) == (8, 6, 1)
    register_style_dataset("test_style_tmp", str(tmp_path / "content"), "s.png")
    try:
        assert len(DatasetCatalog.get("test_style_tmp")) == 2
        meta = MetadataCatalog.get("test_style_tmp")
        assert (meta.evaluator_type, meta.style_image) == ("style", "s.png")
        assert style_image_path("", ["test_style_tmp"]) == "s.png"
        assert style_image_path("mine.jpg", ["test_style_tmp"]) == "mine.jpg"
    finally:
        DatasetCatalog.remove("test_style_tmp")
        MetadataCatalog.remove("test_style_tmp")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="empty"):
        load_content_folder(str(tmp_path / "empty"))


def test_synthetic_style_sets(tmp_path):
    assert len(DatasetCatalog.get("vp_style_train")) == 32
    assert len(DatasetCatalog.get("vp_style_val")) == 8
    meta = MetadataCatalog.get("vp_style_val")
    assert meta.evaluator_type == "style" and meta.style_image.endswith("val/style.png")
    style = np.asarray(Image.open(meta.style_image).convert("RGB"))
    assert np.array_equal(style, render_style())
    # deterministic: a regenerated small split is byte-identical
    a = ensure_generated("vp_style_train", num_images=3, root=str(tmp_path / "a"))[1]
    b = ensure_generated("vp_style_train", num_images=3, root=str(tmp_path / "b"))[1]
    for i in range(3):
        x = np.asarray(Image.open(f"{a}/{i:06d}.png"))
        assert x.shape == (64, 80, 3)
        assert np.array_equal(x, np.asarray(Image.open(f"{b}/{i:06d}.png")))


def test_style_image_by_hand():
    s = render_style(24)
    # (x + y) // 12 cycles the three colours; dots (x % 8 < 2, y % 8 < 2) at 0.3
    assert tuple(s[0, 2]) == (230, 60, 40)
    assert tuple(s[0, 12]) == (250, 210, 60) and tuple(s[5, 20]) == (40, 70, 160)
    assert tuple(s[0, 0]) == (69, 18, 12)
