#!/usr/bin/env python
"""The comparison picture of README.md: for a few vp_sr_val images, LR (pixels enlarged) |
MATLAB bicubic | each trained model | HR, one row per image.

    python projects/SuperResolution/make_figure.py --out projects/SuperResolution/vp_sr_val.png \\
        --model MSE configs/SuperResolution/msrresnet_small_mse_vp_sr.yaml RUN/model_final.pth \\
        --model SRGAN configs/SuperResolution/srgan_small_vp_sr.yaml RUN2/model_final.pth ...
"""

import argparse

import numpy as np
import torch
from detectron2.data import DatasetCatalog
from PIL import Image

from vision_plugins.checkpoint import Checkpointer
from vision_plugins.data import build_mapper
from vision_plugins.data.super_resolution import imresize
from vision_plugins.engine import Trainer, setup_cfg


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", nargs=3, action="append", metavar=("NAME", "CONFIG", "WEIGHTS"))
    parser.add_argument("--dataset", default="vp_sr_val")
    parser.add_argument("--images", type=int, nargs="+", default=[0, 3, 7])
    parser.add_argument("--out", required=True)
    parser.add_argument(
        "--colors", type=int, default=256, help="palette size of the PNG (0: full RGB)"
    )
    args = parser.parse_args(argv)
    models = []
    for name, config, weights in args.model:
        cfg = setup_cfg(config, ["MODEL.DEVICE", "cpu"])
        model = Trainer.build_model(cfg)
        Checkpointer(model).load(weights)
        models.append((name, model.eval()))
    mapper = build_mapper(cfg, is_train=False)
    dicts = DatasetCatalog.get(args.dataset)
    rows = []
    for i in args.images:
        d = mapper(dict(dicts[i]))
        lr = d["image"].permute(1, 2, 0).numpy().astype(np.uint8)
        hr = d["target"].permute(1, 2, 0).numpy().astype(np.uint8)
        s = hr.shape[0] // lr.shape[0]
        cells = [np.kron(lr, np.ones((s, s, 1), np.uint8)), imresize(lr, scale=s)]
        with torch.no_grad():
            for _, model in models:
                out = model([d])[0]["image"].round().clamp(0, 255)
                cells.append(out.permute(1, 2, 0).numpy().astype(np.uint8))
        cells.append(hr)
        gap = np.full((hr.shape[0], 2, 3), 255, np.uint8)
        row = [c for cell in cells for c in (cell, gap)][:-1]
        rows.append(np.concatenate(row, 1))
        rows.append(np.full((2, rows[-1].shape[1], 3), 255, np.uint8))
    picture = Image.fromarray(np.concatenate(rows[:-1], 0))
    if args.colors:  # a small file for the README; no dithering (it would blur the artifacts)
        picture = picture.quantize(args.colors, Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    picture.save(args.out, optimize=True)
    names = ["LR", "bicubic"] + [n for n, _ in models] + ["HR"]
    print(f"wrote {args.out}: columns {' | '.join(names)}")


if __name__ == "__main__":
    main()
