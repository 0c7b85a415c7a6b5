"""Weights and checkpoints (#22 items 1, 4, 5, 9) through the project's entry points: a ``.pkl``
never runs code, a file that is not a checkpoint or matches nothing is an error naming it (with
the conversion command for official files), and ``--resume`` survives a damaged newest
checkpoint, which atomic saving no longer produces."""

import os
import pickle

import numpy as np
import pytest
import torch
import torchvision

from vision_plugins.checkpoint import (
    Checkpointer,
    UnreadableCheckpointError,
    UnsafeCheckpointError,
    WeightsMismatchError,
    convert_checkpoint,
)
from vision_plugins.engine import Predictor, Trainer, setup_cfg

CONFIG = "configs/Mask-RCNN/mask_rcnn_R_18_FPN_synth_shapes.yaml"
OPEN = f"{open.__module__}.open"  # how pickle names the builtin open ("io.open")


def _predictor(weights):
    return Predictor(setup_cfg(CONFIG, ["MODEL.WEIGHTS", str(weights), "MODEL.DEVICE", "cpu"]))


def _model():
    return Trainer.build_model(setup_cfg(CONFIG, ["MODEL.DEVICE", "cpu"]))


class _WritesAFile:
    """Unpickling this calls ``open(path, "w")``: the file appears if the payload runs."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


# ---------------------------------------------------------------- item 1: .pkl runs no code


def test_pkl_with_a_payload_is_refused_and_runs_nothing(tmp_path):
    marker = tmp_path / "payload_ran"
    evil = tmp_path / "weights.pkl"
    with open(evil, "wb") as f:
        pickle.dump({"model": {"w": _WritesAFile(marker)}, "__author__": "x"}, f, protocol=2)
    with pytest.raises(UnsafeCheckpointError) as e:
        _predictor(evil)
    assert not marker.exists()
    assert str(evil) in str(e.value) and OPEN in str(e.value)
    # the trainer's MODEL.WEIGHTS load too
    cfg = setup_cfg(CONFIG, ["MODEL.WEIGHTS", str(evil), "OUTPUT_DIR", str(tmp_path / "out")])
    cfg.defrost()
    cfg.DATASETS.TEST = ()
    with pytest.raises(UnsafeCheckpointError, match=OPEN.replace(".", r"\.")):
        Trainer(cfg).resume_or_load(resume=False)
    assert not marker.exists()


def test_eval_only_with_a_payload_pkl_runs_nothing(tmp_path):
    """``tools/train_net.py --eval-only MODEL.WEIGHTS evil.pkl`` (the path the issue names)."""
    from detectron2.engine import default_argument_parser

    from tests.tool_scripts import load_tool

    marker = tmp_path / "payload_ran"
    evil = tmp_path / "weights.pkl"
    with open(evil, "wb") as f:
        pickle.dump({"model": {"w": _WritesAFile(marker)}, "__author__": "x"}, f, protocol=2)
    args = default_argument_parser().parse_args(
        ["--config-file", CONFIG, "--eval-only", "MODEL.WEIGHTS", str(evil),
         "MODEL.DEVICE", "cpu", "OUTPUT_DIR", str(tmp_path / "out")]
    )  # fmt: skip
    with pytest.raises(UnsafeCheckpointError, match=OPEN.replace(".", r"\.")):
        load_tool("train_net").main(args)
    assert not marker.exists()


def test_pth_with_a_payload_is_refused(tmp_path):
    marker = tmp_path / "payload_ran"
    evil = tmp_path / "weights.pth"
    torch.save({"model": {"w": _WritesAFile(marker)}}, evil)
    with pytest.raises(UnsafeCheckpointError, match=OPEN.replace(".", r"\.")) as e:
        Checkpointer(torch.nn.Linear(2, 2)).load(str(evil))
    assert not marker.exists() and str(evil) in str(e.value)


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_detectron2_style_pkl_of_numpy_arrays_loads(tmp_path, protocol):
    source = _model()
    with torch.no_grad():
        for p in source.parameters():
            p.add_(0.5)
    state = {k: v.numpy().copy() for k, v in source.state_dict().items()}
    path = tmp_path / "zoo.pkl"
    with open(path, "wb") as f:
        pickle.dump({"model": state, "__author__": "Detectron2 Model Zoo"}, f, protocol=protocol)
    loaded = _predictor(path).model.state_dict()
    for k, v in source.state_dict().items():
        assert torch.equal(loaded[k], v), k


def test_caffe2_blobs_pkl_is_read(tmp_path):
    blobs = {"conv1_w": np.ones((4, 3, 7, 7), np.float32), "conv1_w_momentum": np.zeros(1)}
    path = tmp_path / "R-50.pkl"
    with open(path, "wb") as f:
        pickle.dump({"blobs": blobs, "meta": (1, 2.0, "x", None, {3})}, f, protocol=2)
    data = Checkpointer(torch.nn.Linear(2, 2))._load_file(str(path))
    assert data["__author__"] == "Caffe2" and data["matching_heuristics"]
    assert list(data["model"]) == ["conv1_w"]


# ---------------------------------------------------------------- item 9: not a checkpoint


@pytest.mark.parametrize("name", ["notes.pth", "notes.pkl", "notes.txt"])
def test_text_file_as_weights_is_named(tmp_path, name):
    path = tmp_path / name
    path.write_text("MODEL:\n  WEIGHTS: something\n")
    with pytest.raises(UnreadableCheckpointError) as e:
        _predictor(path)
    assert str(path) in str(e.value) and "not a checkpoint" in str(e.value)
    assert "text file" in str(e.value)


def test_missing_weights_file_is_named(tmp_path):
    path = tmp_path / "nowhere" / "model_final.pth"
    with pytest.raises(FileNotFoundError, match=str(path)):
        _predictor(path)


def test_truncated_checkpoint_is_named(tmp_path):
    path = tmp_path / "model.pth"
    torch.save({"model": torch.nn.Linear(50, 50).state_dict()}, path)
    path.write_bytes(path.read_bytes()[:5000])
    with pytest.raises(UnreadableCheckpointError, match="damaged") as e:
        Checkpointer(torch.nn.Linear(50, 50)).load(str(path))
    assert str(path) in str(e.value)


# ---------------------------------------------------------------- item 4: nothing matches


def test_weights_matching_nothing_fail_with_the_fraction(tmp_path):
    path = tmp_path / "other.pth"
    torch.save({"model": {"encoder.weight": torch.zeros(3, 3)}}, path)
    with pytest.raises(WeightsMismatchError) as e:
        _predictor(path)
    assert str(path) in str(e.value) and "0.0%" in str(e.value)
    assert "convert_weights" not in str(e.value)  # not an official file we know


def test_unconverted_official_file_suggests_the_converter(tmp_path):
    path = tmp_path / "resnet18.pth"
    torch.save(torchvision.models.resnet18(weights=None).state_dict(), path)
    with pytest.raises(WeightsMismatchError) as e:
        _predictor(path)
    message = str(e.value)
    assert str(path) in message
    assert f"tools/convert_weights.py --arch torchvision_resnet --src {path} --dst" in message


def test_converted_backbone_only_still_loads(tmp_path):
    """An ImageNet backbone (about a third of Mask R-CNN R-18's values) is a legitimate load."""
    src, dst = tmp_path / "resnet18.pth", tmp_path / "r18_d2.pth"
    torch.save(torchvision.models.resnet18(weights=None).state_dict(), src)
    converted = convert_checkpoint("torchvision_resnet", str(src), str(dst))
    state = _predictor(dst).model.state_dict()  # GroupNorm: the BN statistics are unexpected
    common = [k for k in converted if k in state]
    assert len(common) >= len(converted) // 2
    for k in common:
        assert torch.equal(state[k], converted[k]), k


@pytest.mark.parametrize("first, ok", [(15, True), (10, True), (5, False)])
def test_threshold_is_ten_percent_of_the_values(tmp_path, first, ok):
    """A file with only the first layer: ``first`` % of the model's 1000 values."""
    model = torch.nn.Sequential(
        torch.nn.Linear(first, 10, bias=False), torch.nn.Linear(10, 100 - first, bias=False)
    )
    path, expected = tmp_path / "part.pth", model[0].weight.detach() + 1
    torch.save({"model": {"0.weight": expected}}, path)
    if ok:
        Checkpointer(model).load(str(path))
        assert torch.equal(model[0].weight, expected)
    else:
        with pytest.raises(WeightsMismatchError, match=r"5\.0% .* below the 10% minimum"):
            Checkpointer(model).load(str(path))


def test_official_containers_are_recognised(tmp_path):
    """An official Stacked Hourglass file ({'state_dict': {'model.module.*'}, 'epoch'}) as
    MODEL.WEIGHTS: not a detectron2 checkpoint, with the conversion command."""
    sd = {
        f"model.module.{k}.weight": torch.zeros(1)
        for k in ("pre.0.conv", "hgs.0.0.low1", "outs.0.conv", "features.0.0")
    }
    path = tmp_path / "checkpoint.pt"
    torch.save({"state_dict": sd, "optimizer": {}, "epoch": 3}, path)
    with pytest.raises(WeightsMismatchError, match="--arch shg --src"):
        Checkpointer(torch.nn.Linear(2, 2)).load(str(path))


# ---------------------------------------------------------------- item 5: resume, atomic save


def _trainer(out, max_iter):
    cfg = setup_cfg(
        CONFIG,
        [
            "OUTPUT_DIR", str(out), "SOLVER.MAX_ITER", max_iter, "SOLVER.CHECKPOINT_PERIOD", 2,
            "SOLVER.IMS_PER_BATCH", 2, "SOLVER.WARMUP_ITERS", 1, "DATALOADER.NUM_WORKERS", 0,
            "MODEL.DEVICE", "cpu",
        ],
    )  # fmt: skip
    cfg.defrost()
    cfg.DATASETS.TEST = ()
    return Trainer(cfg)


def _damage(path):
    with open(path, "r+b") as f:
        f.truncate(os.path.getsize(path) // 2)


def test_resume_skips_a_damaged_newest_checkpoint(tmp_path, caplog):
    out = tmp_path / "run"
    trainer = _trainer(out, 4)
    assert isinstance(trainer.checkpointer, Checkpointer)
    trainer.resume_or_load(resume=False)
    trainer.train()
    files = sorted(os.listdir(out))
    assert {"model_0000001.pth", "model_0000003.pth", "model_final.pth"} <= set(files)
    assert not [f for f in files if f.endswith(".tmp")]  # atomic saving cleans up
    assert (out / "last_checkpoint").read_text() == "model_final.pth"

    _damage(out / "model_final.pth")
    _damage(out / "model_0000003.pth")
    trainer = _trainer(out, 6)
    trainer.resume_or_load(resume=True)
    assert trainer.start_iter == 2
    assert trainer.checkpointer.resumed_from == str(out / "model_0000001.pth")
    damaged = [r.getMessage() for r in caplog.records if "cannot resume from" in r.getMessage()]
    assert any("model_final.pth" in m for m in damaged)
    assert any("model_0000003.pth" in m for m in damaged)

    # an empty last_checkpoint (a kill while detectron2 rewrote it): newest readable file
    (out / "last_checkpoint").write_text("")
    torch.save(torch.load(out / "model_0000001.pth", weights_only=True), out / "model_0000003.pth")
    trainer = _trainer(out, 6)
    trainer.resume_or_load(resume=True)
    assert trainer.checkpointer.resumed_from == str(out / "model_0000003.pth")


def test_resume_with_only_damaged_checkpoints_is_an_error(tmp_path):
    (tmp_path / "model_0000009.pth").write_bytes(b"PK\x03\x04 half a zip")
    (tmp_path / "last_checkpoint").write_text("model_0000009.pth")
    with pytest.raises(UnreadableCheckpointError, match="model_0000009.pth"):
        Checkpointer(torch.nn.Linear(2, 2), str(tmp_path)).resume_or_load("", resume=True)


def test_newest_checkpoint_by_iteration(tmp_path):
    model = torch.nn.Linear(2, 2)
    ck = Checkpointer(model, str(tmp_path))
    for it in (9, 19, 29):
        ck.save(f"model_{it:07d}", iteration=it)
    ck.save("model_final", iteration=19)  # saved by a run that later resumed to 29
    (tmp_path / "last_checkpoint").write_text("")
    assert ck.resume_candidates()[:2] == [
        str(tmp_path / "model_0000029.pth"),
        str(tmp_path / "model_final.pth"),
    ]
    assert ck.resume_or_load("", resume=True)["iteration"] == 29


def test_interrupted_save_leaves_the_previous_file(tmp_path, monkeypatch):
    model = torch.nn.Linear(2, 2)
    ck = Checkpointer(model, str(tmp_path))
    ck.save("model_final", iteration=1)
    before = (tmp_path / "model_final.pth").read_bytes()

    def killed(obj, f, *args, **kwargs):
        f.write(b"PK\x03\x04 partial")
        raise KeyboardInterrupt

    monkeypatch.setattr(torch, "save", killed)
    with pytest.raises(KeyboardInterrupt):
        ck.save("model_final", iteration=2)
    with pytest.raises(KeyboardInterrupt):
        ck.save("model_0000002", iteration=2)
    assert (tmp_path / "model_final.pth").read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["last_checkpoint", "model_final.pth"]
    assert (tmp_path / "last_checkpoint").read_text() == "model_final.pth"
