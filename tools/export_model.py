#!/usr/bin/env python
"""Export a model to TorchScript.

    python tools/export_model.py --config-file configs/YolactEdge/yolact_edge_R_50_FPN_550_ytvis.yaml \
        --output exported/ [MODEL.WEIGHTS model.pth]

YolactEdge (the only architecture exported so far): ``keyframe.ts`` and ``nonkeyframe.ts``
(``vision_plugins.yolact_edge.export``: inputs, outputs and what stays in Python) and
``export.json`` (input size, channel order, keyframe interval). The exported graphs are checked
against the eager model on a fresh input before they are written.
"""

import argparse
import json
import os
import sys

import torch

import vision_plugins  # noqa: F401  (registers everything)
from vision_plugins.engine import Trainer, setup_cfg
from vision_plugins.yolact_edge.export import export_torchscript


def get_parser():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config-file", required=True)
    parser.add_argument("--output", required=True, help="output directory")
    parser.add_argument("--batch", type=int, default=1, help="batch size of the traced graphs")
    parser.add_argument("opts", nargs=argparse.REMAINDER)
    return parser


def check(traced, eager, inputs, name):
    with torch.no_grad():
        for i, (a, b) in enumerate(zip(traced(*inputs), eager(*inputs))):
            if not torch.allclose(a, b, rtol=1e-4, atol=1e-4):
                raise RuntimeError(
                    f"{name}: exported output {i} differs from the eager model by "
                    f"{(a - b).abs().max().item():.3g}"
                )


def main(argv=None):
    args = get_parser().parse_args(argv)
    cfg = setup_cfg(args.config_file, list(args.opts))
    if cfg.MODEL.META_ARCHITECTURE != "YolactEdge":
        raise SystemExit(
            f"export_model: MODEL.META_ARCHITECTURE={cfg.MODEL.META_ARCHITECTURE!r} cannot be "
            "exported yet (supported: YolactEdge)"
        )
    from detectron2.checkpoint import DetectionCheckpointer

    model = Trainer.build_model(cfg)
    DetectionCheckpointer(model).load(cfg.MODEL.WEIGHTS)
    model.eval()
    size = cfg.MODEL.YOLACT.MAX_SIZE
    keyframe, nonkeyframe = export_torchscript(model, size, args.batch)
    from vision_plugins.yolact_edge.export import KeyframeNetwork, NonKeyframeNetwork

    g = torch.Generator().manual_seed(1)
    images = torch.rand(args.batch, 3, size, size, generator=g) * 255
    check(keyframe, KeyframeNetwork(model).eval(), (images,), "keyframe")
    with torch.no_grad():
        state = keyframe(images)[5:]
    nonkey_inputs = (torch.flip(images, dims=[3]), *state)
    check(nonkeyframe, NonKeyframeNetwork(model).eval(), nonkey_inputs, "nonkeyframe")
    os.makedirs(args.output, exist_ok=True)
    keyframe.save(os.path.join(args.output, "keyframe.ts"))
    nonkeyframe.save(os.path.join(args.output, "nonkeyframe.ts"))
    meta = {
        "config_file": args.config_file,
        "weights": cfg.MODEL.WEIGHTS or None,
        "input_size": size,
        "batch": args.batch,
        "input_format": cfg.INPUT.FORMAT,
        "keyframe_interval": cfg.MODEL.YOLACT_EDGE.KEYFRAME_INTERVAL,
        "num_classes": cfg.MODEL.YOLACT.NUM_CLASSES,
    }
    with open(os.path.join(args.output, "export.json"), "w") as f:
        json.dump(meta, f, indent=2)
    print(f"wrote keyframe.ts, nonkeyframe.ts and export.json to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
