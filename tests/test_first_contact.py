"""What a user meets first: a quiet import, a warning when the model has random weights."""

import logging
import os
import subprocess
import sys

import pytest
import torch

import vision_plugins

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIG = os.path.join(REPO, "configs", "Mask-RCNN", "mask_rcnn_R_18_FPN_synth_shapes.yaml")
RANDOM = "randomly initialised"

_IMPORT_THEN_WARN = """
import warnings
import vision_plugins
print("imported", vision_plugins.__version__)
warnings.warn("another FutureWarning", FutureWarning)  # the filter is for one message only
"""


def test_import_raises_no_future_warning():
    proc = subprocess.run(
        [sys.executable, "-W", "error::FutureWarning", "-c", _IMPORT_THEN_WARN],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert f"imported {vision_plugins.__version__}" in proc.stdout, proc.stderr
    assert proc.returncode != 0 and "FutureWarning: another FutureWarning" in proc.stderr
    assert "torch.jit.script" not in proc.stderr


@pytest.mark.parametrize("tool", ["train_net", "demo", "benchmark", "export_model"])
def test_tools_print_no_future_warning(tool):
    """The tools import vision_plugins before detectron2, so torch's TorchScript deprecation
    warning raised while detectron2 / fvcore import is filtered (the filter is set first)."""
    proc = subprocess.run(
        [sys.executable, os.path.join("tools", f"{tool}.py"), "--help"],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    assert "FutureWarning" not in proc.stderr, proc.stderr


def test_version_is_the_changelog_s_newest():
    import vision_plugins

    with open(os.path.join(REPO, "CHANGELOG.md"), encoding="utf-8") as f:
        newest = next(line for line in f if line.startswith("## "))
    assert newest.startswith(f"## {vision_plugins.__version__} ")


@pytest.fixture
def vp_logs(caplog):
    """caplog also sees the "vision_plugins" logger after detectron2's setup_logger (which stops
    it from propagating to the root logger)."""
    logger = logging.getLogger("vision_plugins")
    logger.addHandler(caplog.handler)
    caplog.set_level(logging.WARNING)
    yield caplog
    logger.removeHandler(caplog.handler)


def _random_weight_warnings(caplog):
    """Each record once (it reaches caplog's handler twice while the logger propagates)."""
    records = {id(r): r for r in caplog.records if RANDOM in r.getMessage()}
    return list(records.values())


def _cfg(*opts):
    from vision_plugins.engine import setup_cfg

    return setup_cfg(CONFIG, ["MODEL.DEVICE", "cpu", *opts])


def test_predictor_warns_about_empty_weights(vp_logs, tmp_path):
    from detectron2.modeling import build_model

    from vision_plugins.engine import Predictor

    Predictor(_cfg("MODEL.WEIGHTS", ""))
    warned = _random_weight_warnings(vp_logs)
    assert len(warned) == 1 and "MODEL.WEIGHTS" in warned[0].getMessage()
    assert warned[0].levelno == logging.WARNING

    vp_logs.clear()
    weights = tmp_path / "model.pth"
    torch.save({"model": build_model(_cfg()).state_dict()}, weights)
    Predictor(_cfg("MODEL.WEIGHTS", str(weights)))
    assert not _random_weight_warnings(vp_logs)


def test_eval_only_warns_about_empty_weights(vp_logs, tmp_path, monkeypatch):
    from detectron2.engine import default_argument_parser

    from tests.tool_scripts import load_tool

    train_net = load_tool("train_net")
    monkeypatch.setattr(train_net.Trainer, "test", classmethod(lambda cls, cfg, model: {}))
    args = default_argument_parser().parse_args(
        ["--config-file", CONFIG, "--eval-only", "MODEL.WEIGHTS", "",
         "MODEL.DEVICE", "cpu", "OUTPUT_DIR", str(tmp_path / "out")]
    )  # fmt: skip
    assert train_net.main(args) == {}
    warned = [r.getMessage() for r in _random_weight_warnings(vp_logs)]
    assert len(warned) == 1 and "--eval-only" in warned[0] and "MODEL.WEIGHTS" in warned[0]
