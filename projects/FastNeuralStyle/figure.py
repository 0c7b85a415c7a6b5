"""The README's style grid: the style image, then per row a model (run directories given on the
command line) stylizing the first 5 images of vp_style_val (top row: the inputs).

    python projects/FastNeuralStyle/figure.py OUT.png LABEL=RUN_DIR [LABEL=RUN_DIR ...]
"""

import sys

import cv2
import numpy as np
import torch
from detectron2.data import DatasetCatalog, MetadataCatalog

from vision_plugins.checkpoint import Checkpointer
from vision_plugins.data import build_mapper
from vision_plugins.engine import Trainer, setup_cfg

CONFIG = "configs/FastNeuralStyle/fast_neural_style_synth.yaml"


def label(image, text):
    image = image.copy()
    cv2.putText(image, text, (2, 10), cv2.FONT_HERSHEY_SIMPLEX, 0.3, (255, 255, 255), 1)
    return image


def main(out_png, *runs):
    cfg = setup_cfg(CONFIG, ["MODEL.DEVICE", "cpu"])
    mapper = build_mapper(cfg, False)
    inputs = [mapper(d) for d in DatasetCatalog.get("vp_style_val")[:5]]
    style = cv2.imread(MetadataCatalog.get("vp_style_val").style_image)[:, :, ::-1]
    h, w = inputs[0]["image"].shape[1:]
    cell = lambda t: t.round().clamp(0, 255).byte().permute(1, 2, 0).numpy()[:h, :w]  # noqa: E731
    rows = [[cv2.resize(style, (w, h), interpolation=cv2.INTER_AREA)]]
    rows[0] += [cell(d["image"]) for d in inputs]
    rows[0][0] = label(rows[0][0], "style")
    for run in runs:
        name, path = run.split("=", 1)
        model = Trainer.build_model(cfg)
        Checkpointer(model).load(f"{path}/model_final.pth")
        model.eval()
        with torch.no_grad():
            outs = [model([d])[0]["image"] for d in inputs]
        rows.append([label(np.zeros((h, w, 3), np.uint8), name)] + [cell(o) for o in outs])
    grid = np.concatenate([np.concatenate(r, 1) for r in rows], 0)
    cv2.imwrite(out_png, grid[:, :, ::-1], [cv2.IMWRITE_PNG_COMPRESSION, 9])


if __name__ == "__main__":
    main(*sys.argv[1:])
