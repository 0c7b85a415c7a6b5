"""tools/demo.py, tools/visualize_data.py, tools/benchmark.py on tiny inputs (random weights)."""

import contextlib
import json
import os

import cv2
import numpy as np
import pytest
import torch
from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.utils.visualizer import Visualizer

from tests.tool_scripts import load_tool
from vision_plugins.engine import Predictor, setup_cfg
from vision_plugins.spec import SPECS
from vision_plugins.vpsnet import visualize as vpsnet_visualize
from vision_plugins.vpsnet.meta_arch import VPSNet
from vision_plugins.vpsnet.visualize import track_color

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
benchmark = load_tool("benchmark")
demo = load_tool("demo")
visualize_data = load_tool("visualize_data")

CONFIG = "configs/Mask-RCNN/mask_rcnn_R_18_FPN_synth_shapes.yaml"
FAST = ["MODEL.RPN.POST_NMS_TOPK_TEST", "20", "TEST.DETECTIONS_PER_IMAGE", "5"]


def test_predictor_uses_the_test_transform_and_returns_original_size():
    cfg = setup_cfg(CONFIG, FAST + ["INPUT.MIN_SIZE_TEST", "96"])
    predictor = Predictor(cfg)
    image = np.random.RandomState(0).randint(0, 255, (50, 75, 3), dtype=np.uint8)
    seen = {}

    def record_input_size(module, inputs, output):
        seen["hw"] = tuple(inputs[0].shape[-2:])

    hook = predictor.model.backbone.register_forward_hook(record_input_size)
    out = predictor(image)
    hook.remove()
    assert out["instances"].image_size == (50, 75)
    assert seen["hw"][0] >= 96 and seen["hw"][0] % 32 == 0  # resized to 96, padded to /32
    gray = predictor(image[:, :, 0])["instances"]  # grayscale: replicated to 3 channels
    assert gray.image_size == (50, 75)
    with pytest.raises(ValueError, match="H×W×3 BGR or H×W grayscale"):
        predictor(image[:, :, :2])
    with pytest.raises(ValueError, match="'height'"):
        predictor(image, height=10, video_id=0)


@pytest.mark.parametrize(
    "config,opts",
    [(CONFIG, FAST),
     ("configs/YOLACT/yolact_R_18_FPN_synth_shapes.yaml", ["MODEL.YOLACT.MAX_SIZE", "96"])],
)  # fmt: skip
def test_demo_on_images_folder_and_video(tmp_path, config, opts):
    images = [d["file_name"] for d in DatasetCatalog.get("vp_shapes_val")[:2]]
    folder = tmp_path / "imgs"
    folder.mkdir()
    for i, f in enumerate(images):
        cv2.imwrite(str(folder / f"im{i}.png"), cv2.imread(f))
    video = str(tmp_path / "clip.mp4")
    writer = cv2.VideoWriter(video, cv2.VideoWriter_fourcc(*"mp4v"), 5, (128, 128))
    for f in images * 2:
        writer.write(cv2.imread(f))
    writer.release()
    out = tmp_path / "out"
    demo.main(["--config-file", config, "--input", str(folder), video, "--output", str(out), *opts])
    assert sorted(os.listdir(out)) == ["clip.mp4", "im0.png", "im1.png"]
    vis = cv2.imread(str(out / "im0.png"))
    assert vis.shape[:2] == (512, 512)  # small images are drawn enlarged
    cap = cv2.VideoCapture(str(out / "clip.mp4"))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 4  # video_id / frame_id ignored by the model
    assert (cap.get(cv2.CAP_PROP_FRAME_HEIGHT), cap.get(cv2.CAP_PROP_FRAME_WIDTH)) == (512, 512)
    with pytest.raises(FileNotFoundError, match="nothing_here"):
        demo.main(["--config-file", CONFIG, "--input", "nothing_here/*.png", "--output", str(out)])


def test_track_color_is_a_stable_distinct_function_of_the_id():
    assert track_color(3) == track_color(3)
    colors = np.array([track_color(k) for k in range(1, 11)])
    gaps = np.abs(colors[:, None] - colors[None]).max(axis=2)  # largest channel difference
    assert (gaps[~np.eye(10, dtype=bool)] > 0.2).all()


def _dominant_color(image, region):
    colors, counts = np.unique(image[region].reshape(-1, 3), axis=0, return_counts=True)
    return colors[counts.argmax()].astype(float)


def test_draw_colours_things_by_track_id(monkeypatch):
    metadata = MetadataCatalog.get("vp_video_panoptic_val")
    seg = torch.zeros(64, 96, dtype=torch.int32)  # 0 = void
    seg[8:40, 4:40], seg[8:40, 48:88], seg[48:, :] = 1, 2, 3
    info = [
        {"id": 1, "isthing": True, "category_id": 0, "score": 0.9, "track_id": 7},
        {"id": 2, "isthing": True, "category_id": 0, "score": 0.8, "track_id": 8},
        {"id": 3, "isthing": False, "category_id": 1},
    ]
    labels = []
    overlay_instances = Visualizer.overlay_instances

    def record_labels(self, **kwargs):
        labels.extend(kwargs["labels"])
        return overlay_instances(self, **kwargs)

    monkeypatch.setattr(Visualizer, "overlay_instances", record_labels)
    rgb = np.zeros((64, 96, 3), np.uint8)
    vis = demo.draw({"panoptic_seg": (seg, info)}, rgb, metadata, spec=SPECS.get("VPSNet"))
    assert vis.shape[:2] == (341, 512)  # enlarged like any small image
    assert sorted(labels) == ["circle 7", "circle 8"]
    big = cv2.resize(seg.numpy(), (512, 341), interpolation=cv2.INTER_NEAREST)
    inside = {k: cv2.erode((big == k).astype(np.uint8), np.ones((9, 9))) > 0 for k in (1, 2, 3)}
    alpha = 0.7  # blended over black: alpha × colour
    for k, track_id in ((1, 7), (2, 8)):
        expected = alpha * 255 * np.array(track_color(track_id))
        np.testing.assert_allclose(_dominant_color(vis, inside[k]), expected, atol=2)
    grass = alpha * np.array(metadata.stuff_colors[1], dtype=float)
    np.testing.assert_allclose(_dominant_color(vis, inside[3]), grass, atol=2)


def test_demo_vpsnet_video_tracks_within_one_video(tmp_path, monkeypatch):
    frames = [d for d in DatasetCatalog.get("vp_video_panoptic_val") if d["video_id"] == 1][:4]
    video = str(tmp_path / "clip.mp4")
    writer = cv2.VideoWriter(video, cv2.VideoWriter_fourcc(*"mp4v"), 5, (192, 128))  # (w, h)
    for d in frames:
        writer.write(cv2.imread(d["file_name"]))
    writer.release()
    seen, track_ids, drawn = [], [], []
    frame_inference, draw_tracked = VPSNet.frame_inference, vpsnet_visualize.draw_tracked_panoptic

    def record_inputs(self, x, do_postprocess):
        out = frame_inference(self, x, do_postprocess)
        seen.append((x.get("video_id"), x.get("frame_id")))
        things = [s["track_id"] for s in out[0]["panoptic_seg"][1] if s["isthing"]]
        track_ids.append(things)
        return out

    def record_drawing(visualizer, panoptic_seg, segments_info):
        drawn.append(sorted(s["track_id"] for s in segments_info if s["isthing"]))
        return draw_tracked(visualizer, panoptic_seg, segments_info)

    monkeypatch.setattr(VPSNet, "frame_inference", record_inputs)
    monkeypatch.setattr(vpsnet_visualize, "draw_tracked_panoptic", record_drawing)
    torch.manual_seed(0)  # random weights that put instances into the panoptic result
    out = tmp_path / "out"
    demo.main(
        ["--config-file", "configs/VPSNet/vpsnet_R_18_FPN_synth_video_fusetrack.yaml",
         "--input", video, "--output", str(out), "MODEL.WEIGHTS", "", *FAST,
         "MODEL.UPSNET.TEST.SCORE_THRESH", "0.0"]
    )  # fmt: skip
    assert seen == [(0, 1), (0, 2), (0, 3), (0, 4)]
    assert any(track_ids) and all(isinstance(t, int) and t > 0 for ts in track_ids for t in ts)
    assert drawn == [sorted(ts) for ts in track_ids if ts]  # frames with things: by track id
    cap = cv2.VideoCapture(str(out / "clip.mp4"))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 4
    assert cap.get(cv2.CAP_PROP_FRAME_WIDTH) == 512  # enlarged like the images


@pytest.mark.parametrize(
    "config,given,used",
    [(CONFIG, None, 0.5), (CONFIG, "0.25", 0.25),
     ("configs/StackedHourglass/shg_2stack_synth_pose_mpii.yaml", None, 0.0),
     ("configs/StackedHourglass/shg_2stack_synth_pose_mpii.yaml", "0.5", 0.5)],
)  # fmt: skip
def test_demo_threshold_defaults_to_the_architectures(tmp_path, monkeypatch, config, given, used):
    # A pose's score is its mean heatmap peak, not a detection confidence: by default every pose
    # is drawn (detectron2's 0.5 hid all of them on vp_pose_mpii_val).
    thresholds, drawn = [], []
    _filter, draw = demo._filter, demo.draw

    def record_filter(predictions, threshold):
        thresholds.append(threshold)
        return _filter(predictions, threshold)

    def record_draw(predictions, *args, **kwargs):
        drawn.append(len(predictions["instances"]))
        return draw(predictions, *args, **kwargs)

    monkeypatch.setattr(demo, "_filter", record_filter)
    monkeypatch.setattr(demo, "draw", record_draw)
    dataset = "vp_pose_mpii_val" if "Hourglass" in config else "vp_shapes_val"
    args = ["--config-file", config, "--dataset", dataset, "--num-images", "2",
            "--output", str(tmp_path)]  # fmt: skip
    args += [] if given is None else ["--confidence-threshold", given]
    args += ["MODEL.WEIGHTS", "", *(FAST if config == CONFIG else [])]
    assert demo.main(args) == 0
    assert thresholds == [used, used]
    if used == 0.0:
        assert drawn == [1, 1]  # one pose per top-down crop, whatever its score


def test_demo_grid_is_a_mosaic_of_the_drawn_images(tmp_path):
    out, grid = tmp_path / "out", tmp_path / "readme" / "predictions.png"
    args = ["--config-file", CONFIG, "--dataset", "vp_shapes_val", "--num-images", "3",
            "--output", str(out), "--grid", str(grid), "--grid-columns", "2",
            "--grid-tile", "64", "--grid-colors", "0"]  # fmt: skip
    assert demo.main(args + FAST) == 0
    mosaic = cv2.imread(str(grid))
    assert mosaic.shape == (128, 128, 3)  # 3 tiles of 64 in 2 columns: 2 rows
    first = cv2.imread(str(out / sorted(os.listdir(out))[0]))  # square 512² drawing -> 64²
    np.testing.assert_array_equal(
        mosaic[:64, :64], cv2.resize(first, (64, 64), interpolation=cv2.INTER_AREA)
    )
    assert (mosaic[64:, 64:] == 255).all()  # the missing 4th tile stays white
    small = tmp_path / "small.png"
    demo.write_grid([str(out / f) for f in sorted(os.listdir(out))], str(small), 2, 64, 16)
    palette = cv2.imread(str(small))
    assert len(np.unique(palette.reshape(-1, 3), axis=0)) <= 16
    assert np.abs(palette.astype(int) - mosaic).mean() < 12  # the same picture, 16 colours
    with pytest.raises(ValueError, match="no image visualisation"):
        demo.write_grid([], str(grid))


def test_demo_dataset_frames_stream_with_their_video_ids(tmp_path, monkeypatch):
    seen = []
    frame_inference = VPSNet.frame_inference

    def record_inputs(self, x, do_postprocess):
        seen.append((x.get("video_id"), x.get("frame_id")))
        return frame_inference(self, x, do_postprocess)

    monkeypatch.setattr(VPSNet, "frame_inference", record_inputs)
    demo.main(
        ["--config-file", "configs/VPSNet/vpsnet_R_18_FPN_synth_video_fusetrack.yaml",
         "--dataset", "vp_video_panoptic_val", "--num-images", "3", "--output",
         str(tmp_path), "MODEL.WEIGHTS", "", *FAST]
    )  # fmt: skip
    first = DatasetCatalog.get("vp_video_panoptic_val")[:3]
    assert seen == [(d["video_id"], d["frame_id"]) for d in first] == [(1, 1), (1, 2), (1, 3)]


@pytest.mark.parametrize("source", ["annotation", "dataloader"])
def test_visualize_data(tmp_path, source):
    args = ["--dataset", "vp_people_train", "--num", "2", "--output", str(tmp_path)]
    if source == "dataloader":
        args += ["--source", "dataloader", "--config-file",
                 "configs/Mask-RCNN/keypoint_rcnn_R_18_FPN_synth_people.yaml"]  # fmt: skip
    visualize_data.main(args)
    files = sorted(os.listdir(tmp_path))
    assert len(files) == 2
    assert cv2.imread(str(tmp_path / files[0])).shape == (160, 160, 3)


def test_benchmark_writes_json(tmp_path):
    out = tmp_path / "bench.json"
    torch_threads = torch.get_num_threads()
    benchmark.main(
        ["--config-file", CONFIG, "--input-size", "96", "--threads", "1", "--warmup", "1",
         "--iters", "2", "--train-iters", "1", "--output", str(out),
         "DATALOADER.NUM_WORKERS", "0", "SOLVER.IMS_PER_BATCH", "2", *FAST]
    )  # fmt: skip
    torch.set_num_threads(torch_threads)
    result = json.loads(out.read_text())
    assert result["input_hw"] == [96, 96]
    assert result["inference_latency_ms"] > 0 and result["train_step_s"] > 0
    assert result["gflops_per_image"] > 0.1  # an R-18 FPN at 96² is ~1 GFLOP
    assert 0.0 < result["share_outside_conv"] < 1.0
    assert result["peak_rss_mb"] > 100


def test_benchmark_official_needs_a_runner_for_the_meta_arch(tmp_path):
    with pytest.raises(SystemExit, match="no official runner for GeneralizedRCNN.*YOLACT"):
        benchmark.main(
            ["--config-file", CONFIG, "--input-size", "64", "--threads", "1", "--warmup", "0",
             "--iters", "1", "--train-iters", "0", "--official", str(tmp_path),
             "--output", str(tmp_path / "b.json"), *FAST]
        )  # fmt: skip


def test_benchmark_profiles_the_official_call_and_gives_the_conv_floor(tmp_path, monkeypatch):
    """With --official: the official call's share outside the convolutions (profiled like ours)
    and the conv floor, eager's convolution time / the official latency."""
    conv, x = torch.nn.Conv2d(3, 8, 3), torch.rand(1, 3, 64, 64)

    @contextlib.contextmanager
    def runner(path, cfg, model, image):
        def run():  # one small convolution, then 200 pointwise passes outside any convolution
            with torch.no_grad():
                y = conv(x)
                for _ in range(200):
                    y = torch.sin(y)

        yield run

    monkeypatch.setattr(benchmark, "official_runner", lambda cfg: runner)
    out = tmp_path / "b.json"
    torch_threads = torch.get_num_threads()
    benchmark.main(
        ["--config-file", CONFIG, "--input-size", "64", "--threads", "1", "--warmup", "0",
         "--iters", "2", "--train-iters", "0", "--official", str(tmp_path), "--output", str(out),
         *FAST]
    )  # fmt: skip
    torch.set_num_threads(torch_threads)
    r = json.loads(out.read_text())
    assert 0.8 < r["official_share_outside_conv"] < 1.0
    conv_ms = (1 - r["share_outside_conv"]) * r["backends"]["eager"]["latency_ms"]
    assert r["conv_floor_vs_official"] == pytest.approx(conv_ms / r["official_latency_ms"])
    assert 0 < r["conv_floor_vs_official"] < r["latency_ratio_vs_official"]


def test_benchmark_clip_runs_a_video_in_order(tmp_path):
    out = tmp_path / "clip.json"
    torch_threads = torch.get_num_threads()
    benchmark.main(
        ["--config-file", "configs/VPSNet/vpsnet_R_18_FPN_synth_video_fusetrack.yaml",
         "--threads", "1", "--warmup", "0", "--iters", "1", "--train-iters", "0", "--clip", "3",
         "--output", str(out), "MODEL.WEIGHTS", "", *FAST]
    )  # fmt: skip
    torch.set_num_threads(torch_threads)
    result = json.loads(out.read_text())
    assert result["clip_frames"] == 3 and result["clip_latency_ms_per_frame"] > 0
    assert result["clip_rss_mb_after_last_frame"] > 100
    with pytest.raises(SystemExit, match="vp_shapes_val.*not a video dataset"):
        benchmark.main(
            ["--config-file", CONFIG, "--threads", "1", "--warmup", "0", "--iters", "1",
             "--train-iters", "0", "--clip", "2", "--output", str(out), *FAST]
        )  # fmt: skip


def test_demo_skips_unreadable_files_names_them_and_exits_nonzero(tmp_path, capsys):
    """Issue #22 items 2 and 8: a truncated JPEG and an empty file in a folder are skipped with
    a warning naming each; the other images (a 16-bit grayscale PNG, decoded by the project
    decoder, not drawn white) are processed; the exit status is 1 with the count."""
    folder = tmp_path / "imgs"
    folder.mkdir()
    good = DatasetCatalog.get("vp_shapes_val")[0]["file_name"]
    cv2.imwrite(str(folder / "a_good.png"), cv2.imread(good))
    ok, jpg = cv2.imencode(".jpg", cv2.imread(good))
    (folder / "b_truncated.jpg").write_bytes(jpg.tobytes()[: len(jpg) // 2])
    (folder / "c_empty.png").write_bytes(b"")
    cv2.imwrite(str(folder / "d_gray16.png"), np.full((64, 80), 0x4000, np.uint16))
    out = tmp_path / "out"
    args = ["--config-file", CONFIG, "--input", str(folder), "--output", str(out)]
    # threshold above any score: nothing drawn, the visualisation is the (enlarged) image
    status = demo.main(args + ["--confidence-threshold", "1.1", *FAST])
    assert status == 1
    assert sorted(os.listdir(out)) == ["a_good.png", "d_gray16.png"]
    err = capsys.readouterr().err
    assert "b_truncated.jpg" in err and "truncated" in err and "c_empty.png" in err
    assert "2 of 4 input file(s) could not be read" in err
    gray = cv2.imread(str(out / "d_gray16.png"))
    assert gray.shape[:2] == (409, 512) and (gray == 0x40).all()  # top byte, was 255
    assert demo.main(["--config-file", CONFIG, "--input", str(folder / "a_good.png"),
                      "--output", str(out), *FAST]) == 0  # fmt: skip


# Issue #27 item 1: detectron2's demo options (--opts, --video-input, --webcam), H.264 probe.


def _write_clip(path, n=3):
    images = [cv2.imread(d["file_name"]) for d in DatasetCatalog.get("vp_shapes_val")[:n]]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 5, (128, 128))
    for image in images:
        writer.write(image)
    writer.release()
    return images


_VideoCapture = cv2.VideoCapture  # the real one (a test replaces cv2.VideoCapture)


def _frame_count(path):
    cap = _VideoCapture(str(path))
    n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
    cap.release()
    return n


def test_demo_opts_flag_and_trailing_opts_reach_the_config(tmp_path, monkeypatch):
    seen = []
    setup = demo.setup_cfg
    monkeypatch.setattr(
        demo, "setup_cfg", lambda f, opts: seen.append(list(opts)) or setup(f, opts)
    )
    image = DatasetCatalog.get("vp_shapes_val")[0]["file_name"]
    out = tmp_path / "out"
    base = ["--config-file", CONFIG, "--input", image, "--output", str(out)]
    assert demo.main(base + ["--opts", *FAST, "MODEL.ROI_HEADS.SCORE_THRESH_TEST", "0.3"]) == 0
    assert demo.main(base + [*FAST, "--opts", "MODEL.ROI_HEADS.SCORE_THRESH_TEST", "0.3"]) == 0
    assert seen == [FAST + ["MODEL.ROI_HEADS.SCORE_THRESH_TEST", "0.3"]] * 2
    assert os.listdir(out) == [os.path.splitext(os.path.basename(image))[0] + ".png"]


def test_demo_video_input(tmp_path):
    clip = tmp_path / "clip.mp4"
    _write_clip(clip, 3)
    out = tmp_path / "out"
    demo.main(["--config-file", CONFIG, "--video-input", str(clip), "--output", str(out),
               "--opts", *FAST])  # fmt: skip
    assert os.listdir(out) == ["clip.mp4"]
    assert _frame_count(out / "clip.mp4") == 3
    with pytest.raises(FileNotFoundError, match="no_clip.mp4"):
        demo.main(["--config-file", CONFIG, "--video-input", str(tmp_path / "no_clip.mp4"),
                   "--output", str(out)])  # fmt: skip


class FakeCapture:
    """cv2.VideoCapture stand-in: ``frames`` then the end of the stream."""

    def __init__(self, frames):
        self.frames, self.reads, self.released = list(frames), 0, False

    def isOpened(self):
        return True

    def get(self, prop):
        return 10.0 if prop == cv2.CAP_PROP_FPS else 0.0

    def read(self):
        self.reads += 1
        if self.reads > len(self.frames):
            return False, None
        return True, self.frames[self.reads - 1]

    def release(self):
        self.released = True


def test_demo_webcam_loop_with_a_fake_capture(tmp_path, monkeypatch):
    frames = [cv2.imread(d["file_name"]) for d in DatasetCatalog.get("vp_shapes_val")[:3]]
    predictor = Predictor(setup_cfg(CONFIG, FAST))
    # any iterable of frames
    written = []
    assert demo.process_frames(predictor, iter(frames), 0.5, written.append) == 3
    assert [w.shape for w in written] == [(512, 512, 3)] * 3
    # no display: the frames go to <output>/webcam.mp4 until the stream ends
    cap = FakeCapture(frames)
    dst, count = demo.run_webcam(predictor, cap, str(tmp_path / "out"), 0.5, show=False)
    assert count == 3 and cap.released and _frame_count(dst) == 3
    # a window: Esc (27) at the second frame stops the loop
    keys = iter([0, 27, 0])
    shown = []
    monkeypatch.setattr(demo.cv2, "imshow", lambda title, vis: shown.append(vis.shape))
    monkeypatch.setattr(demo.cv2, "waitKey", lambda delay: next(keys))
    monkeypatch.setattr(demo.cv2, "destroyWindow", lambda title: None)
    cap = FakeCapture(frames)
    assert demo.run_webcam(predictor, cap, None, 0.5, show=True) == (None, 2)
    assert len(shown) == 2 and cap.reads == 2 and cap.released
    # main --webcam without a display writes to --output
    cameras = []
    monkeypatch.setattr(demo, "has_display", lambda: False)
    monkeypatch.setattr(
        demo.cv2, "VideoCapture", lambda i: cameras.append(i) or FakeCapture(frames)
    )
    out = tmp_path / "main"
    assert demo.main(["--config-file", CONFIG, "--webcam", "--output", str(out), *FAST]) == 0
    assert cameras == [0] and _frame_count(out / "webcam.mp4") == 3
    with pytest.raises(SystemExit, match="--output is required"):
        demo.main(["--config-file", CONFIG, "--webcam"])


def test_demo_codec_probe_falls_back_to_mp4v(monkeypatch, capsys):
    tried = []

    class NoH264Writer:
        def __init__(self, path, fourcc, fps, size):
            tried.append(fourcc)

        def isOpened(self):
            return False

        def release(self):
            pass

    monkeypatch.setattr(demo.cv2, "VideoWriter", NoH264Writer)
    assert demo.probe_fourcc() == "mp4v"
    assert tried == [cv2.VideoWriter_fourcc(*"avc1"), cv2.VideoWriter_fourcc(*"H264")]
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "cannot write H.264" in err and "mp4v" in err
    monkeypatch.undo()
    assert demo.video_fourcc() in ("avc1", "H264", "mp4v")  # the real probe, cached
    assert demo.video_fourcc() in ("avc1", "H264", "mp4v")
    assert demo.video_fourcc.cache_info().misses == 1


def test_demo_draws_input_and_translation_side_by_side(tmp_path):
    """Pix2Pix on vp_pix2pix_val (A|B files: the A half is the input, as the evaluation loader
    takes it) and on a video: input | output pairs, enlarged."""
    config = "configs/Pix2Pix/pix2pix_unet64_synth.yaml"
    files = [d["file_name"] for d in DatasetCatalog.get("vp_pix2pix_val")[:2]]
    video = str(tmp_path / "clip.mp4")
    writer = cv2.VideoWriter(video, cv2.VideoWriter_fourcc(*"mp4v"), 5, (128, 64))
    for f in files:
        writer.write(cv2.imread(f))
    writer.release()
    out = tmp_path / "out"
    args = ["--config-file", config, "--dataset", "vp_pix2pix_val", "--num-images", "2"]
    assert demo.main(args + ["--video-input", video, "--output", str(out)]) == 0
    assert sorted(os.listdir(out)) == sorted([os.path.basename(f) for f in files] + ["clip.mp4"])
    vis = cv2.imread(str(out / os.path.basename(files[0])))
    assert vis.shape[:2] == (512, 1024)  # 64x64 input | 64x64 output, enlarged x8
    # the left half is the A half of the file (nearest-neighbour enlargement)
    label = cv2.imread(files[0])[:, :64]
    assert np.abs(vis[::8, :512:8].astype(int) - label.astype(int)).max() == 0
    cap = cv2.VideoCapture(str(out / "clip.mp4"))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 2


def test_visualize_data_draws_the_pair_after_the_training_transform(tmp_path):
    """An aligned sample after TranslationMapper: image | target, both 64x64 crops."""
    args = ["--config-file", "configs/Pix2Pix/pix2pix_unet64_synth.yaml", "--source"]
    visualize_data.main(args + ["dataloader", "--num", "1", "--output", str(tmp_path)])
    (name,) = os.listdir(tmp_path)
    assert cv2.imread(str(tmp_path / name)).shape == (64, 128, 3)
