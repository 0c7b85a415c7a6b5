"""The backends in the tools and the Predictor: tools/export_model.py writes ONNX and TorchScript
that Predictor / tools/demo.py run (from the files and exported on the fly) with eager's
detections; tools/benchmark.py times eager, TorchScript and ONNX Runtime in one run (latency and
peak memory each); without --image and without the dataset on disk it uses a synthetic image
and says so (no raw FileNotFoundError). RetinaFace MobileNet-0.25 on its parity-fixture weights,
a real photo 320 px wide."""

import json

import pytest

from tests.export.common import PHOTO, assert_instances_equal, photo_bgr, requires_photos
from tests.parity import converted_model, load_fixture, requires_fixtures
from tests.tool_scripts import load_tool, run_benchmark
from vision_plugins.engine import Predictor, setup_cfg
from vision_plugins.export import deploy_missing

CONFIG = "configs/RetinaFace/retinaface_mnet025_widerface.yaml"
pytestmark = [
    requires_fixtures,
    requires_photos,
    pytest.mark.skipif(deploy_missing() is not None, reason=str(deploy_missing())),
]


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    """The RetinaFace MobileNet-0.25 parity-fixture weights, converted."""
    tmp = tmp_path_factory.mktemp("weights")
    _, state_dict, _, _ = load_fixture("retinaface_mnet")
    converted_model(tmp, "retinaface_mnet", state_dict, "RetinaFace/" + CONFIG.rsplit("/", 1)[1])
    return str(tmp / "converted.pth")


def test_exported_files_in_predictor_and_demo(tmp_path, weights):
    export_model = load_tool("export_model")
    opts = ["MODEL.DEVICE", "cpu", "MODEL.WEIGHTS", weights]
    for fmt in ("onnx", "torchscript"):
        assert export_model.main(["--config-file", CONFIG, "--format", fmt,
                                  "--output", str(tmp_path / fmt), *opts]) == 0  # fmt: skip
        meta = json.loads((tmp_path / fmt / "export.json").read_text())
        assert meta["format"] == fmt and meta["weights"] == weights
    cfg = setup_cfg(CONFIG, opts)
    image = photo_bgr(320)
    eager = Predictor(cfg)
    want = eager(image)
    assert len(want["instances"]) > 0
    for backend, exported in (("onnxruntime", "onnx"), ("torchscript", "torchscript"),
                              ("onnxruntime", None)):  # fmt: skip
        directory = None if exported is None else str(tmp_path / exported)
        got = Predictor(cfg, model=eager.model, backend=backend, exported=directory)(image)
        assert_instances_equal([got], [want], box_atol=1e-2, score_atol=1e-4, unpaired=1)
    import cv2

    cv2.imwrite(str(tmp_path / "photo.jpg"), image)
    demo = load_tool("demo")
    demo.main(["--config-file", CONFIG, "--input", str(tmp_path / "photo.jpg"), "--output",
               str(tmp_path / "vis"), "--backend", "onnxruntime", "--exported",
               str(tmp_path / "onnx"), *opts])  # fmt: skip
    assert (tmp_path / "vis" / "photo.png").is_file()


def test_benchmark_times_every_backend(tmp_path, weights):
    result = run_benchmark(
        tmp_path, CONFIG, "--image", PHOTO, "--input-size", "96", "--threads", "1", "--warmup", "1",
        "--iters", "2",
        "--train-iters", "0", "--backend", "eager,torchscript,onnxruntime",
        "MODEL.DEVICE", "cpu", "MODEL.WEIGHTS", weights,
    )  # fmt: skip
    assert list(result["backends"]) == ["eager", "torchscript", "onnxruntime"]
    for r in result["backends"].values():
        assert r["latency_ms"] > 0 and r["peak_rss_mb"] > 100
    assert result["inference_latency_ms"] == result["backends"]["eager"]["latency_ms"]


def test_benchmark_times_the_other_backends_when_one_is_refused(tmp_path, weights, monkeypatch):
    """A backend whose graphs fail their check against eager (here an Inductor graph made 1e-3
    off) is reported as refused with the reason; eager is still timed."""
    from vision_plugins.export import backends

    class Off(backends._CompiledGraph):
        def __call__(self, *tensors):
            first, *rest = super().__call__(*tensors)
            return (first + 1e-3, *rest)

    monkeypatch.setattr(backends, "_CompiledGraph", Off)
    result = run_benchmark(
        tmp_path, CONFIG, "--image", PHOTO, "--input-size", "96", "--threads", "1", "--warmup", "0",
        "--iters", "1", "--train-iters", "0", "--backend", "eager,inductor",
        "MODEL.DEVICE", "cpu", "MODEL.WEIGHTS", weights,
    )  # fmt: skip
    assert result["backends"]["eager"]["latency_ms"] > 0
    assert "(inductor): exported output 0 differs" in result["backends"]["inductor"]["refused"]


def test_benchmark_without_image_or_dataset_uses_a_synthetic_image(tmp_path, capsys):
    result = run_benchmark(
        tmp_path, CONFIG, "--input-size", "64", "--threads", "1", "--warmup", "0", "--iters", "1",
        "--train-iters", "1", "MODEL.DEVICE", "cpu", "DATASETS.TEST", "('coco_2017_val',)",
        "DATASETS.TRAIN", "('coco_2017_train',)",
    )  # fmt: skip
    err = capsys.readouterr().err
    assert "cannot take an image from 'coco_2017_val'" in err and "--image PATH" in err
    assert result["input_hw"] == [64, 64]
    assert "train_step_s" not in result and result["train_data"].startswith("not timed")
