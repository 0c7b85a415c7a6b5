#!/usr/bin/env python
"""Convert an official checkpoint into a detectron2 checkpoint of the matching vision_plugins model.

    python tools/convert_weights.py --arch torchvision_resnet --src resnet18.pth --dst r18_d2.pth

The output loads with ``DetectionCheckpointer(model).load(dst)`` (or ``MODEL.WEIGHTS dst``).
Sources are read with ``torch.load(weights_only=True)``: no code in the file is executed.
"""

import argparse
import sys

from vision_plugins.checkpoint import CONVERTERS, CheckpointFormatError, convert_checkpoint


def build_parser():
    epilog = "architectures (--arch):\n" + "\n".join(
        f"  {name:<24} {CONVERTERS[name].description}" for name in CONVERTERS.names()
    )
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--arch", required=True, choices=CONVERTERS.names(), metavar="NAME")
    parser.add_argument(
        "--src",
        required=True,
        nargs="+",
        help="official checkpoint (local path); converters of several networks (pix2pix, "
        "cyclegan) take their files (<epoch>_net_<ROLE>.pth, ROLE=path, or their directory)",
    )
    parser.add_argument("--dst", required=True, help="output .pth for DetectionCheckpointer")
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        state_dict, config = convert_checkpoint(args.arch, args.src, args.dst, return_config=True)
    except (FileNotFoundError, CheckpointFormatError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"wrote {args.dst}: {len(state_dict)} tensors ({args.arch})")
    if config:
        overrides = " ".join(f"{k} {v}" for k, v in config.items())
        print(f"the weights need these config values: {overrides}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
