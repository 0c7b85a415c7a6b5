"""Image-to-image translation data (vision_plugins.data.translation): folder listing, aligned and
unaligned registration, the official training transforms (hand-computed sizes and draws), the
test transform == Predictor, errors naming the file. The optional bit-exact comparison with the
official datasets is in test_translation_official.py."""

import os
import random
import time
import types
from pathlib import Path

import numpy as np
import pytest
import torch
from detectron2.data import DatasetCatalog, MetadataCatalog
from PIL import Image

from vision_plugins.data import translation as tr
from vision_plugins.data.image_io import UnreadableImageError, read_image
from vision_plugins.data.mappers import DataLoadError, _NamedErrors, _takes_augmentations
from vision_plugins.data.translation import (
    PREPROCESS_MODES,
    CenterCrop,
    MakeMultipleOf,
    ScaleWidth,
    TranslationMapper,
    build_translation_test_augmentation,
    list_images,
    load_aligned_dataset,
    load_single_dataset,
    load_unaligned_dataset,
    register_aligned_dataset,
    register_single_dataset,
    register_unaligned_dataset,
)


def _save(path, array, mode=None):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array, mode).save(path) if mode else Image.fromarray(array).save(path)
    return str(path)


def _coords(h, w, tag):
    """H×W×3 uint8: R = x, G = y, B = tag (pixel coordinates readable after crop / flip)."""
    image = np.zeros((h, w, 3), np.uint8)
    image[..., 0] = np.arange(w)[None, :]
    image[..., 1] = np.arange(h)[:, None]
    image[..., 2] = tag
    return image


def _mapper(is_train=True, **kwargs):
    args = dict(preprocess="none", load_size=64, crop_size=64, no_flip=True)
    args.update(kwargs)
    return TranslationMapper(is_train, **args)


def _hwc(tensor):
    return tensor.numpy().transpose(1, 2, 0)


# ---------------------------------------------------------------------------------------------
# Listing and registration


def test_list_images_official_order_and_extensions(tmp_path):
    pixel = np.zeros((2, 2, 3), np.uint8)
    for name in ["b.png", "a.JPG", "c.jpeg", "sub/z.bmp", "sub.png", "x.ppm", "y.tiff", "w.TIF"]:
        _save(tmp_path / name, pixel)
    for name in ["d.Jpg", "e.webp", "notes.txt", "f.gif"]:
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "dir.png").mkdir()  # a folder with an image suffix is not an image
    names = [p[len(str(tmp_path)) + 1 :] for p in list_images(str(tmp_path))]
    # string order ("sub.png" < "sub/z.bmp"), case-sensitive extensions, recursive
    assert names == ["a.JPG", "b.png", "c.jpeg", "sub.png", "sub/z.bmp", "w.TIF", "x.ppm", "y.tiff"]
    # max_dataset_size truncates in path order (sub/z.bmp before sub.png), then sorts as strings
    names = [p[len(str(tmp_path)) + 1 :] for p in list_images(str(tmp_path), 4)]
    assert names == ["a.JPG", "b.png", "c.jpeg", "sub/z.bmp"]
    with pytest.raises(FileNotFoundError, match="missing"):
        list_images(str(tmp_path / "missing"))


@pytest.fixture
def aligned_root(tmp_path):
    for k, (w, h) in enumerate([(40, 12), (64, 30), (20, 20)]):
        _save(tmp_path / "train" / f"{k}.png", _coords(h, w, k))
    return tmp_path


def test_register_aligned(aligned_root, monkeypatch):
    name = "vp_test_translation_aligned"
    register_aligned_dataset(name, str(aligned_root), "train", note="x")
    try:
        dicts = DatasetCatalog.get(name)
        meta = MetadataCatalog.get(name)
    finally:
        DatasetCatalog.remove(name)
        MetadataCatalog.remove(name)
    assert [d["file_name"] for d in dicts] == [
        str(aligned_root / "train" / f"{k}.png") for k in range(3)
    ]
    assert [d["image_id"] for d in dicts] == [0, 1, 2]
    assert [(d["width"], d["height"]) for d in dicts] == [(20, 12), (32, 30), (10, 20)]  # halves
    assert all(d["dataset_layout"] == "aligned" for d in dicts)
    assert (meta.evaluator_type, meta.dataset_layout, meta.image_root, meta.phase, meta.note) == (
        "translation",
        "aligned",
        str(aligned_root),
        "train",
        "x",
    )
    assert [d.get("width") for d in load_aligned_dataset(str(aligned_root), image_sizes=False)] == [
        None
    ] * 3
    assert len(load_aligned_dataset(str(aligned_root), max_dataset_size=2)) == 2
    (aligned_root / "empty").mkdir()
    with pytest.raises(ValueError, match="no image files"):
        load_aligned_dataset(str(aligned_root), "empty")


def test_aligned_odd_width_raises_naming_the_file(aligned_root):
    bad = _save(aligned_root / "train" / "odd.png", _coords(10, 41, 0))
    with pytest.raises(ValueError, match="odd.png.*41x10.*even width"):
        load_aligned_dataset(str(aligned_root))
    d = {"file_name": bad, "image_id": 0, "dataset_layout": "aligned"}  # sizes not read
    with pytest.raises(ValueError, match="odd.png.*even width"):
        _mapper()(d)
    with pytest.raises(DataLoadError, match="odd.png"):
        _NamedErrors(_mapper())(d)


def test_unreadable_image_names_the_file(aligned_root):
    bad = aligned_root / "train" / "broken.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n not really")
    dicts = load_aligned_dataset(str(aligned_root))  # no size for it; the mapper reports it
    d = next(d for d in dicts if d["file_name"] == str(bad))
    assert "width" not in d
    with pytest.raises(UnreadableImageError, match="broken.png"):
        _mapper()(d)
    with pytest.raises(DataLoadError, match="broken.png"):
        _NamedErrors(_mapper())(d)
    assert _NamedErrors(_mapper(), skip_unreadable=True)(d) is None


@pytest.fixture
def unaligned_root(tmp_path):
    for k in range(3):
        _save(tmp_path / "trainA" / f"a{k}.png", _coords(20 + k, 30, 10 + k))
    for k in range(5):
        _save(tmp_path / "trainB" / f"b{k}.png", _coords(24, 26 + k, 20 + k))
    return tmp_path


def test_register_unaligned_pairing(unaligned_root):
    name = "vp_test_translation_unaligned"
    register_unaligned_dataset(name, str(unaligned_root), "train")
    try:
        dicts = DatasetCatalog.get(name)
        meta = MetadataCatalog.get(name)
    finally:
        DatasetCatalog.remove(name)
        MetadataCatalog.remove(name)
    A = [str(unaligned_root / "trainA" / f"a{k}.png") for k in range(3)]
    B = [str(unaligned_root / "trainB" / f"b{k}.png") for k in range(5)]
    assert len(dicts) == 5  # max(|A|, |B|)
    assert [d["file_name"] for d in dicts] == [A[i % 3] for i in range(5)]
    assert [d["file_name_B"] for d in dicts] == B
    assert all(d["dir_B"] == str(unaligned_root / "trainB") and d["num_B"] == 5 for d in dicts)
    assert [(d["width"], d["height"]) for d in dicts[:3]] == [(30, 20), (30, 21), (30, 22)]
    assert (meta.evaluator_type, meta.dataset_layout) == ("translation", "unaligned")
    assert "file_name_target" not in dicts[0]


def test_unaligned_serial_and_random_B(unaligned_root):
    dicts = load_unaligned_dataset(str(unaligned_root))
    pool = list_images(str(unaligned_root / "trainB"))
    serial = _mapper(serial_batches=True)
    assert [serial(d)["file_name_B"] for d in dicts] == pool
    test_mode = _mapper(False, serial_batches=False)  # test mode: always serial
    assert [test_mode(d)["file_name_B"] for d in dicts] == pool
    mapper = _mapper(serial_batches=False)
    for seed in range(20):
        random.seed(seed)
        expected = pool[random.randint(0, 4)]
        random.seed(seed)
        out = mapper(dicts[0])
        assert out["file_name_B"] == expected
        assert out["image_B"][2, 0, 0] == 20 + pool.index(expected)  # the tag of that file
    (unaligned_root / "trainB" / "b9.png").write_bytes(b"")  # the folder changed
    tr._cached_listing.cache_clear()
    with pytest.raises(RuntimeError, match="reload the dataset"):
        mapper(dicts[0])
    tr._cached_listing.cache_clear()


def test_unaligned_targets(unaligned_root):
    with pytest.raises(FileNotFoundError, match="trainA_target/a0.png"):
        load_unaligned_dataset(str(unaligned_root), target_dirs=("trainA_target", "trainB_target"))
    for side, count in (("A", 3), ("B", 5)):
        for k in range(count):
            image = np.asarray(
                Image.open(unaligned_root / f"train{side}" / f"{side.lower()}{k}.png")
            )
            _save(unaligned_root / f"train{side}_target" / f"{side.lower()}{k}.png", 255 - image)
    dicts = load_unaligned_dataset(
        str(unaligned_root), target_dirs=("trainA_target", "trainB_target")
    )
    assert dicts[4]["file_name_target"] == str(unaligned_root / "trainA_target" / "a1.png")
    assert dicts[4]["file_name_B_target"] == str(unaligned_root / "trainB_target" / "b4.png")
    for is_train, serial in ((False, False), (True, False), (True, True)):
        for direction in ("AtoB", "BtoA"):
            mapper = _mapper(is_train, serial_batches=serial, direction=direction, no_flip=False)
            for seed in range(4):
                random.seed(seed)
                torch.manual_seed(seed)
                out = mapper(dicts[seed])
                assert torch.equal(out["target"], 255 - out["image"])  # same transform
                assert torch.equal(out["target_B"], 255 - out["image_B"])
                for suffix in ("", "_B"):  # the target files follow their sources (and BtoA)
                    source = out[f"file_name{suffix}"]
                    folder, name = os.path.split(source)
                    assert out[f"file_name{suffix}_target"] == os.path.join(
                        folder + "_target", name
                    )
                first = "trainA" if direction == "AtoB" else "trainB"
                assert os.path.basename(os.path.dirname(out["file_name"])) == first


# ---------------------------------------------------------------------------------------------
# Mapping: split, direction, shared / independent draws, sizes


def test_aligned_split_and_direction(tmp_path):
    left, right = _coords(12, 16, 7), _coords(12, 16, 200)
    path = _save(tmp_path / "train" / "ab.png", np.concatenate([left, right], 1))
    d = load_aligned_dataset(str(tmp_path))[0]
    for is_train in (True, False):
        out = _mapper(is_train)(d)
        assert np.array_equal(_hwc(out["image"]), left) and np.array_equal(
            _hwc(out["target"]), right
        )
        assert out["image"].dtype == torch.float32 and (out["height"], out["width"]) == (12, 16)
        out = _mapper(is_train, direction="BtoA")(d)
        assert np.array_equal(_hwc(out["image"]), right) and np.array_equal(
            _hwc(out["target"]), left
        )
        assert out["file_name"] == path
    out = _mapper(image_format="BGR")(d)
    assert np.array_equal(_hwc(out["image"]), left[:, :, ::-1])


def test_aligned_shared_crop_and_flip_drawn_with_python_random(tmp_path):
    """One draw (x, y, flip) for both halves, in the official order, with Python's random."""
    h, w, crop = 30, 40, 16
    _save(tmp_path / "train" / "ab.png", np.concatenate([_coords(h, w, 1), _coords(h, w, 2)], 1))
    d = load_aligned_dataset(str(tmp_path))[0]
    mapper = _mapper(preprocess="crop", crop_size=crop, load_size=crop, no_flip=False)
    flips = set()
    for seed in range(16):
        random.seed(seed)
        x, y = random.randint(0, w - crop), random.randint(0, h - crop)
        flip = random.random() > 0.5
        flips.add(flip)
        random.seed(seed)
        out = mapper(d)
        image, target = _hwc(out["image"]), _hwc(out["target"])
        assert np.array_equal(image[..., :2], target[..., :2])  # same crop and flip
        assert (image[..., 2] == 1).all() and (target[..., 2] == 2).all()
        xs = np.arange(x, x + crop)[::-1] if flip else np.arange(x, x + crop)
        assert np.array_equal(image[0, :, 0], xs) and np.array_equal(
            image[:, 0, 1], np.arange(y, y + crop)
        )
    assert flips == {False, True}


def test_unaligned_independent_draws_with_torch(unaligned_root):
    """A and B: RandomCrop (top, then left) and RandomHorizontalFlip draws from torch, A first."""
    d = load_unaligned_dataset(str(unaligned_root))[1]  # A: 30x21, B: 27x24
    crop = 16
    mapper = _mapper(preprocess="crop", crop_size=crop, no_flip=False, serial_batches=True)
    different = 0
    for seed in range(12):
        torch.manual_seed(seed)
        expected = []
        for h, w in ((21, 30), (24, 27)):
            top = torch.randint(0, h - crop + 1, (1,)).item()
            left = torch.randint(0, w - crop + 1, (1,)).item()
            expected.append((left, top, bool(torch.rand(1) < 0.5)))
        torch.manual_seed(seed)
        out = mapper(d)
        for key, (left, top, flip) in zip(("image", "image_B"), expected):
            image = _hwc(out[key])
            xs = np.arange(left, left + crop)
            assert np.array_equal(image[0, :, 0], xs[::-1] if flip else xs)
            assert np.array_equal(image[:, 0, 1], np.arange(top, top + crop))
        different += expected[0] != expected[1]
    assert different > 6


# (w, h) of a 50x30 half with LOAD_SIZE 40, CROP_SIZE 32, hand-computed from the official rules
TRAIN_SIZES = {
    "resize_and_crop": (32, 32),  # resize 40x40, crop 32
    "crop": (32, 32),  # crop 32 of 50x30: rows 30-31 are zero padding
    "scale_width": (40, 32),  # width 40, height int(max(40 * 30 / 50, 32)) = 32
    "scale_width_and_crop": (32, 32),  # 40x32, then crop 32
    "none": (48, 32),  # round(50 / 4) = round(12.5) = 12 -> 48, round(7.5) = 8 -> 32
}
# test transform (load_size = crop_size = 32, no random draw)
TEST_SIZES = {
    "resize_and_crop": (32, 32),
    "crop": (32, 32),
    "scale_width": (32, 32),  # width 32, height int(max(32 * 30 / 50, 32)) = 32
    "scale_width_and_crop": (32, 32),
    "none": (48, 32),
}


@pytest.mark.parametrize("preprocess", PREPROCESS_MODES)
def test_output_sizes_non_square(tmp_path, preprocess):
    rgb = np.random.default_rng(0).integers(0, 256, (30, 100, 3), dtype=np.uint8)
    _save(tmp_path / "train" / "ab.png", rgb)
    d = load_aligned_dataset(str(tmp_path))[0]
    for is_train, sizes in ((True, TRAIN_SIZES), (False, TEST_SIZES)):
        mapper = _mapper(is_train, preprocess=preprocess, load_size=40, crop_size=32, no_flip=False)
        for seed in range(3):
            random.seed(seed)
            out = mapper(d)
            w, h = sizes[preprocess]
            assert out["image"].shape == out["target"].shape == (3, h, w)
            assert (out["height"], out["width"]) == (30, 50)
            if preprocess == "crop" and is_train:
                assert (out["image"][:, 30:] == 0).all() and (out["image"][:, :30] != 0).any()


def test_scale_width_keeps_aspect_and_skips_when_done():
    tall = np.zeros((80, 50, 3), np.uint8)
    t = ScaleWidth(40, 32).get_transform(tall)
    assert (t.new_w, t.new_h) == (40, 64)  # int(max(40 * 80 / 50, 32))
    assert ScaleWidth(50, 32).get_transform(tall).__class__.__name__ == "NoOpTransform"


def test_make_multiple_of_rounds_half_to_even():
    for side, expected in ((8, 8), (9, 8), (10, 8), (11, 12), (14, 16), (6, 8), (18, 16)):
        t = MakeMultipleOf(4).get_transform(np.zeros((side, 12, 3), np.uint8))
        assert getattr(t, "new_h", side) == expected, side
    with pytest.raises(ValueError, match="too small"):
        MakeMultipleOf(4).get_transform(np.zeros((2, 12, 3), np.uint8))


def test_center_crop_pads_like_pil():
    image = _coords(10, 30, 5)
    t = CenterCrop(16).get_transform(image)
    out = t.apply_image(image)
    pil = np.asarray(Image.fromarray(image).crop((7, 0, 23, 16)))
    assert np.array_equal(out, pil) and (out[10:] == 0).all()


def test_grayscale_and_rgba_files_become_rgb(tmp_path):
    gray = np.arange(24 * 32, dtype=np.uint16).reshape(24, 32).astype(np.uint8)
    _save(tmp_path / "trainA" / "gray.png", gray, "L")
    rgb = _coords(24, 32, 9)
    rgba = np.concatenate([rgb, np.full((24, 32, 1), 17, np.uint8)], 2)
    _save(tmp_path / "trainB" / "rgba.png", rgba, "RGBA")
    d = load_unaligned_dataset(str(tmp_path))[0]
    out = _mapper(False)(d)
    assert np.array_equal(_hwc(out["image"]), np.repeat(gray[..., None], 3, 2))
    assert np.array_equal(_hwc(out["image_B"]), rgb)  # alpha dropped
    # 1-channel sides: luma as PIL's convert("L") (official Grayscale), B side here
    out = _mapper(False, output_nc=1)(d)
    assert out["image"].shape[0] == 3 and out["image_B"].shape[0] == 1
    assert np.array_equal(out["image_B"][0].numpy(), np.asarray(Image.fromarray(rgb).convert("L")))


def test_bad_settings_raise():
    with pytest.raises(ValueError, match="PREPROCESS='resize'"):
        _mapper(preprocess="resize")
    with pytest.raises(ValueError, match="DIRECTION"):
        _mapper(direction="AB")
    with pytest.raises(ValueError, match="INPUT_NC=2: expected one of 1, 3"):
        _mapper(input_nc=2)


def test_aligned_load_smaller_than_crop_raises(tmp_path):
    _save(tmp_path / "train" / "ab.png", _coords(8, 16, 0))
    d = load_aligned_dataset(str(tmp_path))[0]
    with pytest.raises(ValueError, match="LOAD_SIZE=8 < CROP_SIZE=16"):
        _mapper(preprocess="resize_and_crop", load_size=8, crop_size=16)(d)


# ---------------------------------------------------------------------------------------------
# Config, test transform == Predictor


def _cfg(preprocess, image_format="RGB", crop=32, load=40):
    from vision_plugins.engine import setup_cfg

    cfg = setup_cfg(freeze=False)
    if "GAN" not in cfg.INPUT:
        from vision_plugins.gan.config import add_gan_config

        add_gan_config(cfg)
    cfg.INPUT.FORMAT = image_format
    cfg.INPUT.GAN.PREPROCESS = preprocess
    cfg.INPUT.GAN.CROP_SIZE, cfg.INPUT.GAN.LOAD_SIZE = crop, load
    return cfg


def test_from_config(monkeypatch):
    cfg = _cfg("scale_width", "BGR")
    cfg.INPUT.GAN.NO_FLIP, cfg.INPUT.GAN.DIRECTION, cfg.INPUT.GAN.SERIAL_BATCHES = (
        True,
        "BtoA",
        True,
    )
    cfg.MODEL.GAN.INPUT_NC = 1
    m = TranslationMapper(cfg, True)
    assert (m.preprocess, m.load_size, m.crop_size, m.no_flip, m.direction, m.serial_batches) == (
        "scale_width",
        40,
        32,
        True,
        "BtoA",
        True,
    )
    assert m.image_format == "BGR" and m.channels == (3, 1)  # BtoA: the input side is B
    assert _takes_augmentations(TranslationMapper)  # build_mapper passes the test transform
    test = TranslationMapper(cfg, False)  # without it: builds the config's own
    assert [type(a) for a in test.augmentations.augs] == [ScaleWidth]
    del cfg.INPUT["GAN"]
    with pytest.raises(KeyError, match="add_gan_config"):
        TranslationMapper(cfg, True)


@pytest.mark.parametrize("preprocess", PREPROCESS_MODES)
@pytest.mark.parametrize("image_format", ["RGB", "BGR"])
def test_test_mode_equals_predictor(tmp_path, monkeypatch, preprocess, image_format):
    """The evaluation mapper's ``image`` == ``Predictor.preprocess`` of the same picture (the A
    half of an aligned file, the A file of unaligned data; BtoA: the B side), for every mode."""
    from vision_plugins.data import transforms as transforms_module
    from vision_plugins.engine import Predictor

    spec = types.SimpleNamespace(test_augmentation=build_translation_test_augmentation)
    monkeypatch.setattr(transforms_module, "spec_for", lambda cfg: spec)
    cfg = _cfg(preprocess, image_format)
    rng = np.random.default_rng(1)
    ab = _save(tmp_path / "train" / "ab.png", rng.integers(0, 256, (30, 2 * 50, 3), dtype=np.uint8))
    _save(tmp_path / "trainA" / "a.png", rng.integers(0, 256, (45, 37, 3), dtype=np.uint8))
    _save(tmp_path / "trainB" / "b.png", rng.integers(0, 256, (23, 61), dtype=np.uint8), "L")
    predictor = Predictor(cfg, model=torch.nn.Identity())
    bgr = read_image(ab, "BGR")
    for direction in ("AtoB", "BtoA"):
        cfg.INPUT.GAN.DIRECTION = direction
        mapper = TranslationMapper(
            cfg, False, augmentations=transforms_module.build_test_augmentation(cfg)
        )
        halves = {"AtoB": bgr[:, :50], "BtoA": bgr[:, 50:]}
        out = mapper(load_aligned_dataset(str(tmp_path))[0])
        expected = predictor.preprocess(halves[direction])
        assert torch.equal(out["image"], expected["image"])
        assert (out["height"], out["width"]) == (expected["height"], expected["width"])
        out = mapper(load_unaligned_dataset(str(tmp_path))[0])
        for key, file_name in (("image", "a.png"), ("image_B", "b.png")):
            if direction == "BtoA":
                file_name = {"a.png": "b.png", "b.png": "a.png"}[file_name]
            expected = predictor.preprocess(
                read_image(str(tmp_path / f"train{file_name[0].upper()}" / file_name), "BGR")
            )
            assert torch.equal(out[key], expected["image"]), (key, direction)


@pytest.mark.parametrize("preprocess", PREPROCESS_MODES)
def test_single_images_and_bare_dicts(tmp_path, monkeypatch, preprocess):
    """A bare ``{"file_name"}`` dict (and a ``single`` folder): ``image`` only; in test mode
    exactly ``Predictor.preprocess`` of the file."""
    from vision_plugins.data import transforms as transforms_module
    from vision_plugins.engine import Predictor

    spec = types.SimpleNamespace(test_augmentation=build_translation_test_augmentation)
    monkeypatch.setattr(transforms_module, "spec_for", lambda cfg: spec)
    rgb = np.random.default_rng(2).integers(0, 256, (45, 70, 3), dtype=np.uint8)
    path = _save(tmp_path / "images" / "x.png", rgb)
    cfg = _cfg(preprocess, crop=32)
    mapper = TranslationMapper(
        cfg, False, augmentations=transforms_module.build_test_augmentation(cfg)
    )
    expected = Predictor(cfg, model=torch.nn.Identity()).preprocess(read_image(path, "BGR"))
    for d in ({"file_name": path, "image_id": 3}, load_single_dataset(str(tmp_path / "images"))[0]):
        out = mapper(d)
        assert torch.equal(out["image"], expected["image"]) and "target" not in out
        assert (out["height"], out["width"]) == (45, 70)
    name = "vp_test_translation_single"
    register_single_dataset(name, str(tmp_path / "images"))
    try:
        assert DatasetCatalog.get(name)[0]["dataset_layout"] == "single"
        assert MetadataCatalog.get(name).dataset_layout == "single"
    finally:
        DatasetCatalog.remove(name)
        MetadataCatalog.remove(name)
    with pytest.raises(ValueError, match="dataset_layout='paired'"):
        mapper({"file_name": path, "dataset_layout": "paired"})


# ---------------------------------------------------------------------------------------------
# Synthetic datasets


SMALL = {"vp_pix2pix_train": 6, "vp_pix2pix_val": 3, "vp_cyclegan_train": 8, "vp_cyclegan_val": 4}


@pytest.fixture(scope="module")
def synthetic_root(tmp_path_factory):
    from vision_plugins.data.synthetic import register_all_synthetic

    path = tmp_path_factory.mktemp("vp_translation_datasets")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("VP_DATASETS", str(path))
        register_all_synthetic()
        yield path
    register_all_synthetic()


def _files(root):
    return sorted(p for p in root.rglob("*") if p.is_file())


def test_synthetic_registered(synthetic_root):
    from vision_plugins.data.synthetic import SYNTHETIC_DATASETS, split_paths

    for name in SMALL:
        assert name in SYNTHETIC_DATASETS and name in DatasetCatalog.list()
        meta = MetadataCatalog.get(name)
        assert meta.evaluator_type == "translation"
        assert (meta.json_file, meta.image_root) == split_paths(name)
    assert MetadataCatalog.get("vp_pix2pix_val").dataset_layout == "aligned"
    assert MetadataCatalog.get("vp_cyclegan_val").target_dirs == ["valA_target", "valB_target"]
    assert "target_dirs" not in MetadataCatalog.get("vp_cyclegan_train").as_dict()


def test_synthetic_full_splits(synthetic_root):
    start = time.perf_counter()
    sizes = {name: len(DatasetCatalog.get(name)) for name in SMALL}
    assert time.perf_counter() - start < 5
    assert sizes == {
        "vp_pix2pix_train": 64,
        "vp_pix2pix_val": 16,
        "vp_cyclegan_train": 64,
        "vp_cyclegan_val": 16,
    }
    d = DatasetCatalog.get("vp_pix2pix_train")[0]
    assert (d["width"], d["height"]) == (64, 64) and d["file_name"].endswith(
        "images/train/000000.png"
    )
    train = DatasetCatalog.get("vp_cyclegan_train")
    assert train[0]["num_B"] == 56 and "file_name_target" not in train[0]


def test_synthetic_deterministic(synthetic_root, tmp_path):
    from vision_plugins.data.synthetic import ensure_generated

    for name, n in SMALL.items():
        first = ensure_generated(name, num_images=n)[1]
        second = ensure_generated(name, num_images=n, root=str(tmp_path))[1]
        a, b = _files(Path(first)), _files(Path(second))
        assert [p.name for p in a] == [p.name for p in b] and a
        assert all(p.read_bytes() == q.read_bytes() for p, q in zip(a, b)), name


def test_synthetic_pix2pix_values(synthetic_root):
    from vision_plugins.data.synthetic import ensure_generated
    from vision_plugins.data.synthetic.translation import LABEL_COLORS, render_photo

    image_root = ensure_generated("vp_pix2pix_train", num_images=SMALL["vp_pix2pix_train"])[1]
    for d in load_aligned_dataset(image_root, "train"):
        ab = read_image(d["file_name"], "RGB")
        assert ab.shape == (64, 128, 3)
        a, b = ab[:, :64], ab[:, 64:]
        match = (a[:, :, None, :] == LABEL_COLORS[None, None]).all(-1)
        assert (match.sum(-1) == 1).all()  # flat label colours only
        labels = match.argmax(-1).astype(np.uint8)
        assert len(np.unique(labels)) >= 2
        assert np.array_equal(b, render_photo(labels))  # B is a fixed function of A


def test_synthetic_cyclegan_values(synthetic_root):
    from vision_plugins.data.synthetic import ensure_generated
    from vision_plugins.data.synthetic.translation import f, f_inverse

    values = np.random.default_rng(0).integers(0, 256, (100000, 3), dtype=np.uint8)
    assert np.array_equal(f_inverse(f(values)), values) and np.array_equal(
        f(f_inverse(values)), values
    )
    assert np.array_equal(f(np.array([255, 0, 0])), [0, 255, 0])  # red -> green: hue +120
    root = ensure_generated("vp_cyclegan_val", num_images=SMALL["vp_cyclegan_val"])[1]
    dicts = load_unaligned_dataset(root, "val", target_dirs=("valA_target", "valB_target"))
    assert len(dicts) == 4
    for d in dicts:
        a, b = read_image(d["file_name"], "RGB"), read_image(d["file_name_B"], "RGB")
        assert np.array_equal(read_image(d["file_name_target"], "RGB"), f(a))
        assert np.array_equal(read_image(d["file_name_B_target"], "RGB"), f_inverse(b))
        hue = np.asarray(Image.fromarray(a).convert("HSV"))[..., 0].astype(int) * 360 // 256
        assert np.median(hue) < 75  # warm domain A
    # training B images are made from A images that are not the trainA files
    root = ensure_generated("vp_cyclegan_train", num_images=SMALL["vp_cyclegan_train"])[1]
    train = load_unaligned_dataset(root, "train")
    sources = [f_inverse(read_image(p, "RGB")) for p in list_images(f"{root}/trainB")]
    assert len(sources) == 7
    for d in train:
        a = read_image(d["file_name"], "RGB")
        assert not any(np.array_equal(a, s) for s in sources)


@pytest.mark.parametrize("preprocess", ["resize_and_crop", "none"])
def test_synthetic_cyclegan_val_targets_through_the_mapper(synthetic_root, preprocess):
    """Channel permutation commutes with the per-channel resize: target == f(image) exactly."""
    from vision_plugins.data.synthetic import ensure_generated

    root = ensure_generated("vp_cyclegan_val", num_images=SMALL["vp_cyclegan_val"])[1]
    d = load_unaligned_dataset(root, "val", target_dirs=("valA_target", "valB_target"))[1]
    out = _mapper(False, preprocess=preprocess, crop_size=48)(d)
    assert out["image"].shape == ((3, 48, 48) if preprocess != "none" else (3, 64, 64))
    assert torch.equal(out["target"], out["image"][[2, 0, 1]])
    assert torch.equal(out["target_B"], out["image_B"][[1, 2, 0]])


def test_registered_spec_build_mapper_equals_predictor(tmp_path):
    """Through the project's own path (Pix2Pix's spec): ``build_mapper(cfg, False)`` (the spec's
    test transform) == ``Predictor.preprocess``."""
    import vision_plugins  # noqa: F401  (registers the specs)
    from vision_plugins.data import build_mapper
    from vision_plugins.engine import Predictor
    from vision_plugins.spec import SPECS

    arch = "Pix2Pix"
    assert TranslationMapper in SPECS.get(arch).mappers
    cfg = _cfg("resize_and_crop", crop=24)
    cfg.MODEL.META_ARCHITECTURE = arch
    cfg.INPUT.DATASET_MAPPER_NAME = "TranslationMapper"
    rgb = np.random.default_rng(3).integers(0, 256, (30, 2 * 50, 3), dtype=np.uint8)
    path = _save(tmp_path / "train" / "ab.png", rgb)
    out = build_mapper(cfg, False)(load_aligned_dataset(str(tmp_path))[0])
    expected = Predictor(cfg, model=torch.nn.Identity()).preprocess(read_image(path, "BGR")[:, :50])
    assert out["image"].shape == (3, 24, 24) and torch.equal(out["image"], expected["image"])
