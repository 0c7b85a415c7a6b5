"""add_vision_plugins_config: adds keys only, idempotent, changes no detectron2 default."""

import pytest
from detectron2.config import get_cfg

from vision_plugins import add_vision_plugins_config


def _flatten(cfg, prefix=""):
    out = {}
    for k, v in cfg.items():
        if hasattr(v, "items"):
            out.update(_flatten(v, prefix + k + "."))
        else:
            out[prefix + k] = v
    return out


def test_no_detectron2_default_changes():
    before = _flatten(get_cfg())
    after = _flatten(add_vision_plugins_config(get_cfg()))
    changed = {k for k in before if before[k] != after[k]}
    assert not changed, f"detectron2 defaults changed: {changed}"
    added = set(after) - set(before)
    assert "INPUT.DATASET_MAPPER_NAME" in added
    assert "TEST.VAL_LOSS.PERIOD" in added


def test_idempotent_and_keeps_user_values():
    cfg = add_vision_plugins_config(get_cfg())
    cfg.INPUT.DATASET_MAPPER_NAME = "MyMapper"
    cfg.TEST.VAL_LOSS.PERIOD = 7
    dump = cfg.dump()
    add_vision_plugins_config(cfg)
    assert cfg.dump() == dump


def test_keeps_frozen_state():
    cfg = get_cfg()
    cfg.freeze()
    add_vision_plugins_config(cfg)
    assert cfg.is_frozen()
    with pytest.raises(AttributeError):
        cfg.INPUT.DATASET_MAPPER_NAME = "x"
