"""One spelling per concept: an old config key raises a KeyError naming the new one, from a YAML
(``merge_from_file``) and from command-line overrides (``merge_from_list``)."""

import pytest
from detectron2.config import get_cfg

from vision_plugins import add_vision_plugins_config

RENAMED = [
    ("MODEL.CENTERNET_OAP.TOPK", "MODEL.CENTERNET_OAP.TOP_K", "50"),
    ("MODEL.CENTERNET_TRIPLET.TOP_K", "MODEL.CORNERNET.TOP_K", "70"),
    ("MODEL.CENTERNET_TRIPLET.GAUSSIAN_IOU", "MODEL.CORNERNET.GAUSSIAN_IOU", "0.7"),
    ("MODEL.CENTERNET_TRIPLET.RADIUS_FORMULA", "MODEL.CORNERNET.RADIUS_FORMULA", "legacy"),
]


def _cfg():
    return add_vision_plugins_config(get_cfg())


@pytest.mark.parametrize("old,new,value", RENAMED)
def test_old_key_in_merge_from_list(old, new, value):
    with pytest.raises(KeyError, match=f"{old} was renamed to {new}"):
        _cfg().merge_from_list([old, value])


@pytest.mark.parametrize("old,new,value", RENAMED)
def test_old_key_in_merge_from_file(old, new, value, tmp_path):
    *parents, leaf = old.split(".")
    lines = [f"{'  ' * i}{p}:" for i, p in enumerate(parents)]
    lines.append(f"{'  ' * len(parents)}{leaf}: {value}")
    path = tmp_path / "old.yaml"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(KeyError, match=f"{old} was renamed to {new}"):
        _cfg().merge_from_file(str(path))


@pytest.mark.parametrize("old,new,value", RENAMED)
def test_new_key_is_accepted(old, new, value):
    cfg = _cfg()
    cfg.merge_from_list([new, value])
    assert str(cfg[new.split(".")[0]][new.split(".")[1]][new.split(".")[2]]) == value
    assert cfg.clone().key_is_renamed(old)  # kept by clone (setup_cfg / Trainer copies)
