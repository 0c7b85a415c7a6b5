#!/usr/bin/env python
"""Export a model to TorchScript or ONNX.

    python tools/export_model.py --config-file configs/RetinaFace/<config>.yaml \
        --format onnx|torchscript --output exported/ [MODEL.WEIGHTS model.pth]

Architectures whose spec declares an exporter (``ArchSpec.exporter``; the list is printed for
any other). Each graph of the model (``vision_plugins.export.ExportGraph``: the network and the
decoding ONNX can express) is written as ``<graph>.onnx`` / ``<graph>.ts``, and ``export.json``
holds the graphs' input / output names, dynamic axes, tolerances and the exporter's metadata
(input size, channel order, ...). Every written graph is loaded back (ONNX: in ONNX Runtime) and
checked against the eager model before the command succeeds (``--no-check`` skips that). ONNX
needs the deploy extra (``pip install .[deploy]``). Run the export with ``tools/demo.py
--backend onnxruntime --exported DIR`` or ``vision_plugins.engine.Predictor(cfg,
backend="onnxruntime", exported=DIR)``.
"""

import vision_plugins  # noqa: F401  # isort: skip  (first: registers; quiets dependency warnings)
import argparse
import os
import sys

from vision_plugins.checkpoint import Checkpointer
from vision_plugins.engine import Trainer, setup_cfg
from vision_plugins.export import FORMATS, OnnxUnsupported, deploy_missing, export_model
from vision_plugins.spec import SPECS, spec_for


def get_parser():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config-file", required=True)
    parser.add_argument("--output", required=True, help="output directory")
    parser.add_argument("--format", choices=FORMATS, default="torchscript")
    parser.add_argument("--no-check", action="store_true", help="skip the check against eager")
    parser.add_argument("opts", nargs=argparse.REMAINDER)
    return parser


def build_exportable(cfg):
    """The eval-mode model of ``cfg`` (MODEL.WEIGHTS loaded) and its spec's exporter's result."""
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
    return model.eval(), exporter(model.eval(), cfg)


def main(argv=None):
    args = get_parser().parse_args(argv)
    cfg = setup_cfg(args.config_file, list(args.opts))
    if args.format == "onnx" and deploy_missing():
        raise SystemExit(f"export_model: --format onnx needs the deploy extra: {deploy_missing()}")
    model, exportable = build_exportable(cfg)
    meta = {"config_file": args.config_file, "weights": cfg.MODEL.WEIGHTS or None}
    if args.format not in exportable.formats:
        reasons = "; ".join(f"{g.name}: {g.onnx_unsupported}" for g in exportable.graphs)
        raise SystemExit(
            f"export_model: no {args.format} export ({reasons}); use --format torchscript"
        )
    try:
        files = export_model(exportable, args.format, args.output, not args.no_check, meta)
    except OnnxUnsupported as e:
        raise SystemExit(f"export_model: {e}") from None
    checked = "" if args.no_check else ", each checked against the eager model"
    print(f"wrote {', '.join(os.path.basename(f) for f in files)} and export.json to "
          f"{args.output}{checked}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
