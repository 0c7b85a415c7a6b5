#!/usr/bin/env python
"""Export a model to TorchScript.

    python tools/export_model.py \
        --config-file configs/YolactEdge/yolact_edge_R_50_FPN_550_ytvis.yaml \
        --output exported/ [MODEL.WEIGHTS model.pth]

Architectures whose spec declares an exporter (``ArchSpec.exporter``): YolactEdge, written as
``keyframe.ts`` and ``nonkeyframe.ts`` (``vision_plugins/yolact_edge/export.py``: inputs,
outputs and what stays in Python). ``export.json`` holds the exporter's metadata (input size,
channel order, ...). The exported graphs are checked against the eager model on fresh inputs
before they are written.
"""

import vision_plugins  # noqa: F401  # isort: skip  (first: registers; quiets dependency warnings)
import argparse
import json
import os
import sys

from vision_plugins.checkpoint import Checkpointer
from vision_plugins.engine import Trainer, setup_cfg
from vision_plugins.spec import SPECS, spec_for


def get_parser():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config-file", required=True)
    parser.add_argument("--output", required=True, help="output directory")
    parser.add_argument("--batch", type=int, default=1, help="batch size of the traced graphs")
    parser.add_argument("opts", nargs=argparse.REMAINDER)
    return parser


def main(argv=None):
    args = get_parser().parse_args(argv)
    cfg = setup_cfg(args.config_file, list(args.opts))
    spec = spec_for(cfg)
    exporter = spec.exporter if spec is not None else None
    if exporter is None:
        available = sorted(key for key, s in SPECS.items() if s.exporter is not None)
        raise SystemExit(
            f"export_model: MODEL.META_ARCHITECTURE={cfg.MODEL.META_ARCHITECTURE!r} has no "
            f"exporter; available: {available}"
        )
    model = Trainer.build_model(cfg)
    Checkpointer(model).load(cfg.MODEL.WEIGHTS)
    graphs, meta = exporter(model.eval(), cfg, args.batch)
    os.makedirs(args.output, exist_ok=True)
    for name, graph in graphs.items():
        graph.save(os.path.join(args.output, name))
    meta = {"config_file": args.config_file, "weights": cfg.MODEL.WEIGHTS or None, **meta}
    with open(os.path.join(args.output, "export.json"), "w") as f:
        json.dump(meta, f, indent=2)
    print(f"wrote {', '.join(graphs)} and export.json to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
