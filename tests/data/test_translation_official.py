"""Optional comparison with the official datasets: ``VP_OFFICIAL_CYCLEGAN`` = a
junyanz/pytorch-CycleGAN-and-pix2pix checkout (the official code is imported from there, never
copied). Under the same seeds (Python ``random`` and torch), the official ``AlignedDataset`` /
``UnalignedDataset`` items equal ``TranslationMapper``'s outputs after the model-side
normalisation ``(x / 255 - 0.5) / 0.5`` bit for bit, and both consume the same random numbers:
every PREPROCESS mode, both directions, flip on and off, serial and random B, 1-channel sides,
non-square images with odd sides and sides below the crop. The folder listings (order,
``max_dataset_size``) equal the official ``make_dataset``."""

import argparse
import os
import random

import numpy as np
import pytest
import torch
from PIL import Image

from tests.official._patch import official_code
from vision_plugins.data.translation import (
    PREPROCESS_MODES,
    TranslationMapper,
    list_images,
    load_aligned_dataset,
    load_single_dataset,
    load_unaligned_dataset,
)

OFFICIAL = os.environ.get("VP_OFFICIAL_CYCLEGAN")
pytestmark = pytest.mark.skipif(not OFFICIAL, reason="VP_OFFICIAL_CYCLEGAN is not set")

LOAD, CROP = 36, 24
DRAWS = 3  # seeds per item


@pytest.fixture(scope="module")
def official():
    """``(AlignedDataset, UnalignedDataset, make_dataset, SingleDataset)`` of the official
    code."""
    with official_code(OFFICIAL, isolate=("data", "util", "models", "options")):
        from data.aligned_dataset import AlignedDataset
        from data.image_folder import make_dataset
        from data.single_dataset import SingleDataset
        from data.unaligned_dataset import UnalignedDataset

        yield AlignedDataset, UnalignedDataset, make_dataset, SingleDataset


def _noise(rng, h, w, mode="RGB"):
    shape = (h, w) if mode == "L" else (h, w, 3)
    return Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8))


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    """Aligned ``train/`` (a subfolder whose name sorts differently as a path and as a string,
    mixed extensions, a non-image file, halves from below to above the crop), unaligned
    ``trainA``/``trainB`` of different lengths (a grayscale and an RGBA file), and
    ``smallA``/``smallB`` with an A image narrower than the crop."""
    root = tmp_path_factory.mktemp("official_layout")
    rng = np.random.default_rng(0)
    aligned = root / "train"
    (aligned / "sub").mkdir(parents=True)
    sizes = [(2 * 37, 29), (2 * 20, 50), (2 * 64, 64), (2 * 24, 24), (2 * 30, 17), (2 * 26, 40)]
    names = ["00.bmp", "01.png", "sub/02.bmp", "03.png", "04.jpg", "sub.png"]
    for name, (w, h) in zip(names, sizes):
        image = _noise(rng, h, w)
        image.save(aligned / name, **({"quality": 95} if name.endswith("jpg") else {}))
    (aligned / "notes.txt").write_text("not an image")
    for side, count in (("A", 5), ("B", 3)):
        folder = root / f"train{side}"
        folder.mkdir()
        for k in range(count):
            image = _noise(rng, 30 + 7 * k, 41 - 3 * k, "L" if (side, k) == ("A", 1) else "RGB")
            if (side, k) == ("B", 2):
                image = image.convert("RGBA")
            image.save(folder / f"img_{k}.png")
    for side, w in (("A", 20), ("B", 30)):
        (root / f"small{side}").mkdir()
        _noise(rng, 40, w).save(root / f"small{side}" / "x.png")
    return root


def _opt(root, preprocess="resize_and_crop", direction="AtoB", no_flip=False, serial=False,
         input_nc=3, output_nc=3, phase="train", max_size=float("inf")):  # fmt: skip
    return argparse.Namespace(
        dataroot=str(root),
        phase=phase,
        max_dataset_size=max_size,
        load_size=LOAD,
        crop_size=CROP,
        preprocess=preprocess,
        no_flip=no_flip,
        direction=direction,
        input_nc=input_nc,
        output_nc=output_nc,
        serial_batches=serial,
        isTrain=True,
    )


def _mapper(opt):
    return TranslationMapper(
        True,
        preprocess=opt.preprocess,
        load_size=opt.load_size,
        crop_size=opt.crop_size,
        no_flip=opt.no_flip,
        direction=opt.direction,
        serial_batches=opt.serial_batches,
        input_nc=opt.input_nc,
        output_nc=opt.output_nc,
    )


def _normalised(x):
    return (x / 255 - 0.5) / 0.5


def _seed(seed):
    random.seed(seed)
    torch.manual_seed(seed)


def _call(seed, fn, *args):
    """``(fn(*args), the next Python and torch random numbers)`` from ``seed``."""
    _seed(seed)
    out = fn(*args)
    return out, (random.random(), torch.rand(1).item())


def _compare(theirs, mapper, dicts, keys):
    """Every dict, ``DRAWS`` seeds: official item vs mapper output (``keys``: ours, theirs)."""
    assert len(dicts) == len(theirs)
    for index, d in enumerate(dicts):
        for draw in range(DRAWS):
            item, after_theirs = _call(100 * index + draw, theirs.__getitem__, index)
            ours, after_ours = _call(100 * index + draw, mapper, d)
            for key, official_key in keys(theirs.opt.direction).items():
                assert torch.equal(_normalised(ours[key]), item[official_key]), (key, index, draw)
            assert after_ours == after_theirs, (index, draw)


def _real(direction):
    """The model's inputs: real_A, real_B of the official model = our image, target / image_B."""
    return ("A", "B") if direction == "AtoB" else ("B", "A")


FLAGS = [(d, f) for d in ("AtoB", "BtoA") for f in (False, True)]


def test_listing_equals_official(official, root):
    make_dataset = official[2]
    for folder in ("train", "trainA", "trainB"):
        for size in (1, 2, 4, 5, 6, float("inf")):
            ours = list_images(str(root / folder), None if size == float("inf") else size)
            assert ours == sorted(make_dataset(str(root / folder), size)), (folder, size)
    # the path order keeps sub/02.bmp before sub.png; the string order puts it after
    assert list_images(str(root / "train"), 5)[-1].endswith("sub/02.bmp")


@pytest.mark.parametrize("preprocess", PREPROCESS_MODES)
@pytest.mark.parametrize("direction,no_flip", FLAGS)
def test_aligned_equals_official(official, root, preprocess, direction, no_flip):
    opt = _opt(root, preprocess, direction, no_flip)
    theirs = official[0](opt)
    dicts = load_aligned_dataset(str(root), "train")
    assert [d["file_name"] for d in dicts] == theirs.AB_paths
    real = _real(direction)
    _compare(theirs, _mapper(opt), dicts, lambda _: {"image": real[0], "target": real[1]})


@pytest.mark.parametrize("direction", ["AtoB", "BtoA"])
@pytest.mark.parametrize("channels", [(1, 3), (3, 1)])
def test_aligned_grayscale_side_equals_official(official, root, direction, channels):
    opt = _opt(root, direction=direction, input_nc=channels[0], output_nc=channels[1])
    theirs = official[0](opt)
    ours = _mapper(opt)
    dicts = load_aligned_dataset(str(root), "train")
    real = _real(direction)
    _compare(theirs, ours, dicts, lambda _: {"image": real[0], "target": real[1]})
    out = ours(dicts[0])
    assert (out["image"].shape[0], out["target"].shape[0]) == channels


def test_aligned_max_dataset_size_equals_official(official, root):
    opt = _opt(root, max_size=5)
    theirs = official[0](opt)
    dicts = load_aligned_dataset(str(root), "train", max_dataset_size=5)
    assert [d["file_name"] for d in dicts] == theirs.AB_paths and len(dicts) == 5


@pytest.mark.parametrize("preprocess", PREPROCESS_MODES)
@pytest.mark.parametrize("direction,no_flip", FLAGS)
@pytest.mark.parametrize("serial", [False, True])
def test_unaligned_equals_official(official, root, preprocess, direction, no_flip, serial):
    opt = _opt(root, preprocess, direction, no_flip, serial)
    theirs = official[1](opt)
    dicts = load_unaligned_dataset(str(root), "train")
    assert len(dicts) == 5
    assert [d["file_name"] for d in dicts] == theirs.A_paths
    assert [d["file_name_B"] for d in dicts] == [theirs.B_paths[i % 3] for i in range(5)]
    real = _real(direction)
    _compare(theirs, _mapper(opt), dicts, lambda _: {"image": real[0], "image_B": real[1]})
    # the file names follow the swap too
    for index, d in enumerate(dicts):
        item, _ = _call(index, theirs.__getitem__, index)
        ours, _ = _call(index, _mapper(opt), d)
        paths = (item["A_paths"], item["B_paths"])
        expected = paths if direction == "AtoB" else paths[::-1]
        assert (ours["file_name"], ours["file_name_B"]) == expected


@pytest.mark.parametrize("direction", ["AtoB", "BtoA"])
@pytest.mark.parametrize("channels", [(1, 3), (3, 1)])
def test_unaligned_grayscale_side_equals_official(official, root, direction, channels):
    opt = _opt(root, direction=direction, input_nc=channels[0], output_nc=channels[1])
    theirs = official[1](opt)
    real = _real(direction)
    dicts = load_unaligned_dataset(str(root), "train")
    _compare(theirs, _mapper(opt), dicts, lambda _: {"image": real[0], "image_B": real[1]})


def test_unaligned_crop_smaller_than_crop_size_raises_like_official(official, root):
    opt = _opt(root, "crop", serial=True, phase="small")
    theirs = official[1](opt)
    with pytest.raises(ValueError, match="larger than input image size"):
        theirs[0]
    d = load_unaligned_dataset(str(root), "small")[0]
    with pytest.raises(ValueError, match="smaller than INPUT.GAN.CROP_SIZE"):
        _mapper(opt)(d)


@pytest.mark.parametrize("preprocess", PREPROCESS_MODES)
@pytest.mark.parametrize("no_flip", [False, True])
def test_single_equals_official(official, root, preprocess, no_flip):
    opt = _opt(root, preprocess, no_flip=no_flip)
    opt.dataroot = str(root / "trainA")
    theirs = official[3](opt)
    dicts = load_single_dataset(str(root / "trainA"))
    assert [d["file_name"] for d in dicts] == theirs.A_paths
    _compare(theirs, _mapper(opt), dicts, lambda _: {"image": "A"})
    bare = [{"file_name": d["file_name"]} for d in dicts]  # a bare dict is a single image too
    _compare(theirs, _mapper(opt), bare, lambda _: {"image": "A"})
