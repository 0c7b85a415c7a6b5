"""``python -m vision_plugins.collect_env``: detectron2's environment report plus how detectron2
was installed (compiled or stand-in ops) and the vision_plugins versions."""

import os

import detectron2
from detectron2.utils.collect_env import collect_env_info
from tabulate import tabulate

import vision_plugins
from vision_plugins.compat import detectron2_ops_kind


def collect_vision_plugins_info():
    rows = [
        (
            "vision_plugins",
            f"{vision_plugins.__version__} @ {os.path.dirname(vision_plugins.__file__)}",
        ),
        ("detectron2 ops", detectron2_ops_kind()),
        ("detectron2 source", os.path.dirname(detectron2.__file__)),
    ]
    return tabulate(rows)


def main():
    print(collect_env_info())
    print(collect_vision_plugins_info())


if __name__ == "__main__":
    main()
