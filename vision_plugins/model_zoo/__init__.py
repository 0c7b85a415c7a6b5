"""Access to the configs shipped with vision_plugins (``configs/`` of the repository, installed as
package data ``vision_plugins.model_zoo.configs``)."""

import os
from importlib import resources

__all__ = ["get_config_file", "list_config_files"]


def _root():
    try:  # a regular install: configs/ is package data
        return resources.files("vision_plugins.model_zoo.configs")
    except ModuleNotFoundError:  # an editable install: the repository's configs/
        return resources.files("vision_plugins").joinpath("..", "configs")


def get_config_file(config_path):
    """Absolute path of a shipped config, e.g. ``"Mask-RCNN/mask_rcnn_R_50_FPN_1x_coco.yaml"``."""
    path = _root().joinpath(config_path)
    if not path.is_file():
        raise FileNotFoundError(
            f"{config_path!r} is not a config shipped with vision_plugins; available: "
            + ", ".join(list_config_files())
        )
    return os.fspath(path)


def list_config_files():
    out = []

    def walk(node, prefix):
        for child in node.iterdir():
            name = prefix + child.name
            if child.is_dir():
                walk(child, name + "/")
            elif child.name.endswith(".yaml"):
                out.append(name)

    walk(_root(), "")
    return sorted(out)
