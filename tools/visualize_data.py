#!/usr/bin/env python
"""Draw the ground truth of any registered dataset (as annotated, or after the training mapper).

python tools/visualize_data.py --dataset vp_people_train --num 8 --output out/gt
python tools/visualize_data.py --config-file cfg.yaml --source dataloader --num 8 --output out/

With ``--source dataloader``, a sample's other images (``target``, ``image_B``, ``target_B`` of
image-to-image data) are drawn beside its ``image``, after the same training transform.
"""

import vision_plugins  # noqa: F401  # isort: skip  (first: registers; quiets dependency warnings)
import argparse
import os
import sys

import cv2
import numpy as np
from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.data import detection_utils as utils
from detectron2.utils.visualizer import Visualizer

from vision_plugins.data import build_mapper, read_image
from vision_plugins.engine import check_dataset_names, setup_cfg

IMAGE_KEYS = ("target", "image_B", "target_B")


def get_parser():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", help="registered dataset (default: DATASETS.TRAIN[0])")
    parser.add_argument("--config-file", help="needed for --source dataloader")
    parser.add_argument("--source", choices=["annotation", "dataloader"], default="annotation")
    parser.add_argument("--num", type=int, default=8)
    parser.add_argument("--output", required=True)
    parser.add_argument("opts", nargs=argparse.REMAINDER)
    return parser


def main(argv=None):
    args = get_parser().parse_args(argv)
    cfg = setup_cfg(args.config_file, args.opts, freeze=False)
    if args.dataset:
        cfg.DATASETS.TRAIN = (args.dataset,)
    if not cfg.DATASETS.TRAIN:
        raise SystemExit("give --dataset NAME or a --config-file with DATASETS.TRAIN")
    check_dataset_names(cfg)
    name = cfg.DATASETS.TRAIN[0]
    metadata = MetadataCatalog.get(name)
    dicts = DatasetCatalog.get(name)[: args.num]
    os.makedirs(args.output, exist_ok=True)
    mapper = build_mapper(cfg, is_train=True) if args.source == "dataloader" else None
    for d in dicts:
        stem = os.path.splitext(os.path.basename(d["file_name"]))[0]
        if mapper is None:
            img = read_image(d["file_name"], "RGB")  # the project decoder (16-bit etc.)
            vis = Visualizer(img, metadata).draw_dataset_dict(d)
        else:
            mapped = mapper(d)
            if mapped is None:  # DATALOADER.SKIP_UNREADABLE_IMAGES: skipped (logged)
                print(f"skipped unreadable image {d['file_name']}", file=sys.stderr)
                continue
            # the image beside the other images of the sample (image-to-image data: target,
            # domain-B image), all after the same training transform
            extra = [k for k in IMAGE_KEYS if k in mapped]
            img = np.concatenate(
                [
                    utils.convert_image_to_rgb(mapped[k].permute(1, 2, 0), cfg.INPUT.FORMAT)
                    for k in ["image"] + extra
                ],
                axis=1,
            )
            target = mapped.get("instances")
            fields = target.get_fields() if target is not None else {}
            vis = Visualizer(img, metadata).overlay_instances(
                boxes=fields.get("gt_boxes"),
                masks=fields.get("gt_masks"),
                keypoints=fields.get("gt_keypoints"),
                labels=[metadata.thing_classes[c] for c in fields.get("gt_classes", [])],
            )
        cv2.imwrite(os.path.join(args.output, stem + ".png"), vis.get_image()[:, :, ::-1])
    print(f"wrote {len(dicts)} image(s) of {name} to {args.output}")


if __name__ == "__main__":
    sys.exit(main())
