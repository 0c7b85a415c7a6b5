#!/usr/bin/env python
"""Run a model on images, a folder, a video file or a registered dataset; write visualisations.

    python tools/demo.py --config-file configs/Mask-RCNN/mask_rcnn_R_18_FPN_synth_shapes.yaml \
        --input img1.png folder/ clip.mp4 --output out/ MODEL.WEIGHTS output/model_final.pth
    python tools/demo.py --config-file ... --dataset vp_shapes_val --num-images 4 --output out/
    python tools/demo.py --config-file ... --video-input clip.mp4 --output out/ --opts KEY VALUE
    python tools/demo.py --config-file ... --webcam [--output out/]
    python tools/demo.py --config-file ... --dataset vp_shapes_val --num-images 8 --output out/ \
        --grid projects/<Arch>/predictions.png   # also one small mosaic of the images (READMEs)

detectron2's ``demo/demo.py`` options work the same way: ``--input``, ``--video-input FILE``,
``--webcam`` (camera 0, frame by frame until the stream ends or Esc is pressed in the window;
without a display the frames go to ``<output>/webcam.mp4`` instead), ``--output``,
``--confidence-threshold`` and ``--opts KEY VALUE ...`` (trailing ``KEY VALUE`` pairs without
``--opts`` work too). Videos are written H.264 when the installed OpenCV can (probed once, ``avc1``
then ``H264``), else MPEG-4 part 2 (``mp4v``) with a note on stderr.

Images -> ``<output>/<name>.png`` (with ``--grid FILE`` also one mosaic of them, each tile scaled
to ``--grid-tile`` pixels on its longer side, ``--grid-columns`` per row); a video ->
``<output>/<name>.mp4`` (frame by frame; a streaming model (``ArchSpec.streaming``: VPSNet,
YolactEdge) gets each frame with the video's ``video_id`` and its ``frame_id``, so it carries its
state across frames; so do the frames of a video dataset given with ``--dataset``, with the ids
of its dataset dicts). Outputs detectron2 cannot draw are
drawn by the architecture's spec (``ArchSpec.visualize``: DensePose IUV, VPSNet's colour per track
id, input | output side by side for the image-to-image models: Pix2Pix, CycleGAN); small inputs are
drawn enlarged.

``--backend torchscript|onnxruntime`` runs the model's exported graphs (``--exported DIR`` from
``tools/export_model.py --format torchscript|onnx``, else exported on the fly) with the same pre-
and post-processing as the eager model (``vision_plugins.export``); ``--backend inductor``
compiles those graphs in the process (``torch.compile``, once per input size).

Images are decoded by the project decoder (``vision_plugins.data.image_io.read_image``: 16-bit,
grayscale, RGBA, palette images). A file that cannot be read (an image the decoder refuses, a
video that does not open or has no frame) is skipped with a warning naming it; the others are
processed, and the run then exits with status 1 and the count of skipped files.
"""

import vision_plugins  # noqa: F401  # isort: skip  (first: registers; quiets dependency warnings)
import argparse
import functools
import glob
import os
import sys
import tempfile

import cv2
import numpy as np
import tqdm
from detectron2.data import DatasetCatalog
from detectron2.utils.video_visualizer import VideoVisualizer
from detectron2.utils.visualizer import ColorMode, Visualizer
from PIL import Image

from vision_plugins.data import aligned_input_half
from vision_plugins.data.image_io import UnreadableImageError, read_image
from vision_plugins.engine import Predictor, setup_cfg
from vision_plugins.export.backends import BACKENDS
from vision_plugins.spec import spec_for

IMAGE_EXTS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
VIDEO_EXTS = (".mp4", ".avi", ".mov", ".mkv", ".webm")
H264_FOURCCS = ("avc1", "H264")
FALLBACK_FOURCC = "mp4v"
ESC = 27


def get_parser():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config-file", required=True)
    parser.add_argument("--input", nargs="*", default=[], help="images, folders, globs, videos")
    parser.add_argument("--video-input", action="append", default=[], help="a video file")
    parser.add_argument("--webcam", action="store_true", help="frames of camera 0 (Esc stops)")
    parser.add_argument("--dataset", help="take the images of this registered dataset")
    parser.add_argument("--num-images", type=int, default=8, help="with --dataset: how many")
    parser.add_argument(
        "--output", help="output folder (required, except with --webcam on a display)"
    )
    parser.add_argument(
        "--confidence-threshold", type=float,
        help="draw the instances scoring at least this (default: the architecture's, 0.5 for "
        "detectors, 0 where scores are not detection confidences)",
    )  # fmt: skip
    parser.add_argument("--grid", help="also write the image visualisations as one mosaic PNG")
    parser.add_argument("--grid-columns", type=int, default=4, help="with --grid: tiles per row")
    parser.add_argument(
        "--grid-tile", type=int, default=256, help="with --grid: longer side of a tile (pixels)"
    )
    parser.add_argument(
        "--grid-colors", type=int, default=256,
        help="with --grid: palette size of the PNG (small files for a README; 0: full colour)",
    )  # fmt: skip
    parser.add_argument(
        "--backend", choices=BACKENDS, default="eager",
        help="run the model eagerly, its exported graphs (tools/export_model.py) or those "
        "graphs compiled by torch.compile (inductor)",
    )  # fmt: skip
    parser.add_argument(
        "--exported", help="with --backend torchscript|onnxruntime: the export directory "
        "(default: export on the fly)",
    )  # fmt: skip
    parser.add_argument(
        "--opts", dest="dash_opts", nargs=argparse.REMAINDER, default=[],
        help="KEY VALUE config overrides (detectron2's demo form)",
    )  # fmt: skip
    parser.add_argument("opts", nargs=argparse.REMAINDER, help="KEY VALUE config overrides")
    return parser


def config_opts(args):
    """The ``KEY VALUE`` overrides: trailing pairs, then those after ``--opts`` (which the
    trailing list swallows when it comes after a trailing pair)."""
    return [o for o in list(args.opts) + list(args.dash_opts) if o != "--opts"]


def expand_inputs(inputs):
    """Files from paths, folders (their images/videos, sorted) and globs; errors name the path."""
    files = []
    for item in inputs:
        if os.path.isdir(item):
            found = sorted(
                os.path.join(item, f)
                for f in os.listdir(item)
                if f.lower().endswith(IMAGE_EXTS + VIDEO_EXTS)
            )
            if not found:
                raise FileNotFoundError(f"--input folder {item!r} contains no image or video")
            files += found
        elif os.path.isfile(item):
            files.append(item)
        else:
            found = sorted(glob.glob(os.path.expanduser(item)))
            if not found:
                raise FileNotFoundError(f"--input {item!r}: no such file, folder or glob match")
            files += found
    return files


def _filter(predictions, threshold):
    if "instances" in predictions:
        inst = predictions["instances"].to("cpu")
        predictions = dict(predictions, instances=inst[inst.scores >= threshold])
    return predictions


def enlargement(shape, min_side=512):
    """Drawing scale of an image of ``shape`` (H, W, ...): its longer side to at least
    ``min_side`` pixels (images and video frames alike)."""
    return max(1.0, min_side / max(shape[:2]))


def draw(predictions, rgb, metadata, min_side=512, spec=None):
    """Drawing enlarged by :func:`enlargement`: the spec's own (``spec.visualize``, when it
    draws this output), else detectron2's ``Visualizer`` (panoptic, instances or sem_seg)."""
    scale = enlargement(rgb.shape, min_side)
    if spec is not None and spec.visualize is not None:
        image = spec.visualize(rgb, predictions, metadata, scale)
        if image is not None:
            return image
    vis = Visualizer(rgb, metadata, scale=scale, instance_mode=ColorMode.IMAGE)
    if "panoptic_seg" in predictions:
        seg, info = predictions["panoptic_seg"]
        out = vis.draw_panoptic_seg_predictions(seg.to("cpu"), info)
    elif "instances" in predictions:
        out = vis.draw_instance_predictions(predictions["instances"])
    elif "sem_seg" in predictions:
        out = vis.draw_sem_seg(predictions["sem_seg"].argmax(dim=0).to("cpu"))
    else:
        raise ValueError(f"nothing to draw in the model output (keys: {sorted(predictions)})")
    return out.get_image()


def run_image(predictor, path, out_dir, threshold, half=None, extra=None):
    """Draw the prediction on the image ``path``; ``half`` ("left" / "right"): only that half
    of the file is the input (the A|B files of aligned image-to-image datasets); ``extra``: the
    keyword inputs of the predictor (``video_id`` / ``frame_id`` of a dataset's video frame)."""
    bgr = read_image(path, format="BGR")
    if half is not None:
        middle = bgr.shape[1] // 2
        bgr = np.ascontiguousarray(bgr[:, :middle] if half == "left" else bgr[:, middle:])
    preds = _filter(predictor(bgr, **(extra or {})), threshold)
    vis = draw(preds, bgr[:, :, ::-1], predictor.metadata, spec=spec_for(predictor.cfg))
    dst = os.path.join(out_dir, os.path.splitext(os.path.basename(path))[0] + ".png")
    cv2.imwrite(dst, vis[:, :, ::-1])
    return dst


def write_grid(paths, dst, columns=4, tile=256, colors=0):
    """The images ``paths`` as one PNG ``dst``: each scaled to ``tile`` pixels on its longer side
    (aspect kept, centred on a white cell of ``tile`` x ``tile``), ``columns`` per row, in order;
    ``colors`` > 0: stored with a palette of that many colours (median cut, no dithering), which
    makes the file of a README picture several times smaller."""
    if not paths:
        raise ValueError(f"--grid {dst!r}: no image visualisation to put in it")
    rows = -(-len(paths) // columns)
    grid = np.full((rows * tile, min(columns, len(paths)) * tile, 3), 255, np.uint8)
    for i, path in enumerate(paths):
        image = cv2.imread(path)
        scale = tile / max(image.shape[:2])
        size = tuple(max(1, round(n * scale)) for n in image.shape[1::-1])  # (w, h)
        image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
        top = (i // columns) * tile + (tile - size[1]) // 2
        left = (i % columns) * tile + (tile - size[0]) // 2
        grid[top : top + size[1], left : left + size[0]] = image
    os.makedirs(os.path.dirname(os.path.abspath(dst)), exist_ok=True)
    image = Image.fromarray(grid[:, :, ::-1])
    if colors > 0:
        image = image.quantize(colors=colors, dither=Image.Dither.NONE)
    image.save(dst, "PNG", optimize=True)
    return dst


def probe_fourcc(candidates=H264_FOURCCS, fallback=FALLBACK_FOURCC):
    """The first of ``candidates`` (H.264 fourccs) the installed OpenCV can write -- tried by
    writing a tiny file in a temporary folder -- else ``fallback``, with a note on stderr."""
    frame = np.zeros((16, 16, 3), np.uint8)
    with tempfile.TemporaryDirectory() as tmp:
        for code in candidates:
            path = os.path.join(tmp, f"probe_{code}.mp4")
            writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*code), 5.0, (16, 16))
            ok = writer.isOpened()
            if ok:
                writer.write(frame)
            writer.release()
            if ok and os.path.isfile(path) and os.path.getsize(path) > 0:
                return code
    print(
        f"note: this OpenCV cannot write H.264 ({'/'.join(candidates)}); videos are written "
        f"with the {fallback!r} codec",
        file=sys.stderr,
    )
    return fallback


@functools.lru_cache(maxsize=None)
def video_fourcc():
    """:func:`probe_fourcc`, run once per process."""
    return probe_fourcc()


class VideoSink:
    """Writes visualisations to ``path`` (MP4, :func:`video_fourcc`), opened at the first frame
    with its size; ``frames`` counts them."""

    def __init__(self, path, fps):
        self.path, self.fps, self.writer, self.frames = path, fps, None, 0

    def __call__(self, vis):
        if self.writer is None:
            h, w = vis.shape[:2]
            fourcc = cv2.VideoWriter_fourcc(*video_fourcc())
            self.writer = cv2.VideoWriter(self.path, fourcc, self.fps, (w, h))
            if not self.writer.isOpened():
                raise OSError(f"cannot write video file {self.path!r}")
        self.writer.write(vis)
        self.frames += 1
        return True

    def close(self):
        if self.writer is not None:
            self.writer.release()


class WindowSink:
    """Shows visualisations in a window; returns False (stop) when Esc is pressed."""

    def __init__(self, title="vision_plugins demo"):
        self.title, self.frames = title, 0

    def __call__(self, vis):
        cv2.imshow(self.title, vis)
        self.frames += 1
        return cv2.waitKey(1) & 0xFF != ESC

    def close(self):
        cv2.destroyWindow(self.title)


def capture_frames(cap):
    """The frames of an opened ``cv2.VideoCapture``-like object until ``read`` fails."""
    while True:
        ok, frame = cap.read()
        if not ok:
            return
        yield frame


def process_frames(predictor, frames, threshold, sink, video_id=0, total=None, desc="frames"):
    """Run ``predictor`` on every BGR frame of the iterable ``frames`` and pass each BGR
    visualisation to ``sink``; stop when the frames end or ``sink`` returns False. Frame ``k``
    (from 1) goes to a streaming model as ``predictor(frame, video_id=video_id, frame_id=k)``,
    to others as ``predictor(frame)``; give every video of a run its own ``video_id`` (VPSNet
    keeps state per id). Panoptic outputs are drawn by :func:`draw`, instances by detectron2's
    ``VideoVisualizer`` (colours carried over by box overlap) enlarged to :func:`draw`'s size.
    Returns the number of frames processed."""
    visualizer = VideoVisualizer(predictor.metadata, ColorMode.IMAGE)
    spec = spec_for(predictor.cfg)
    streaming = spec is not None and spec.streaming
    count = 0
    for frame_id, frame in enumerate(tqdm.tqdm(frames, desc, total=total, unit="frame"), 1):
        extra = {"video_id": video_id, "frame_id": frame_id} if streaming else {}
        preds = _filter(predictor(frame, **extra), threshold)
        rgb = frame[:, :, ::-1]
        if "panoptic_seg" in preds or "instances" not in preds:  # drawn frame by frame
            vis = draw(preds, rgb, predictor.metadata, spec=spec)
        else:
            vis = visualizer.draw_instance_predictions(rgb, preds["instances"]).get_image()
            scale = enlargement(frame.shape)
            vis = cv2.resize(vis, None, fx=scale, fy=scale, interpolation=cv2.INTER_LINEAR)
        count += 1
        if sink(np.ascontiguousarray(vis[:, :, ::-1])) is False:
            break
    return count


def run_video(predictor, path, out_dir, threshold, video_id):
    """A video file -> ``<out_dir>/<name>.mp4`` through :func:`process_frames`."""
    cap = cv2.VideoCapture(path)
    if not cap.isOpened():
        raise OSError(f"cannot open video file {path!r}")
    fps = cap.get(cv2.CAP_PROP_FPS) or 25.0
    n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) or None
    dst = os.path.join(out_dir, os.path.splitext(os.path.basename(path))[0] + ".mp4")
    sink = VideoSink(dst, fps)
    try:
        process_frames(
            predictor, capture_frames(cap), threshold, sink, video_id, n, os.path.basename(path)
        )
    finally:
        cap.release()
        sink.close()
    if sink.frames == 0:
        raise OSError(f"video file {path!r} has no readable frame")
    return dst


def opencv_has_gui():
    """The installed OpenCV can open windows (``opencv-python``; ``make setup`` installs the
    headless build, whose ``imshow`` raises)."""
    for line in cv2.getBuildInformation().splitlines():
        if line.strip().startswith("GUI:"):
            return line.split(":", 1)[1].strip().upper() != "NONE"
    return False


def has_display():
    """A window can be shown: an OpenCV with a GUI and, on Linux, a display server
    (``DISPLAY`` / ``WAYLAND_DISPLAY``)."""
    if not opencv_has_gui():
        return False
    if sys.platform.startswith("linux"):
        return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    return True


def run_webcam(predictor, cap, out_dir, threshold, show, video_id=0):
    """Frames of the opened capture ``cap`` until it ends or Esc is pressed in the window
    (``show``); without ``show`` they go to ``<out_dir>/webcam.mp4``. Returns the output file
    (None when shown) and the number of frames processed."""
    if not cap.isOpened():
        raise OSError("cannot open the webcam (camera 0)")
    if show:
        sink, dst = WindowSink(), None
    else:
        os.makedirs(out_dir, exist_ok=True)
        dst = os.path.join(out_dir, "webcam.mp4")
        sink = VideoSink(dst, cap.get(cv2.CAP_PROP_FPS) or 25.0)
    try:
        count = process_frames(
            predictor, capture_frames(cap), threshold, sink, video_id, desc="webcam"
        )
    finally:
        cap.release()
        sink.close()
    return dst, count


def main(argv=None):
    args = get_parser().parse_args(argv)
    if not (args.input or args.video_input or args.dataset or args.webcam):
        raise SystemExit(
            "give --input (images, folders, videos), --video-input FILE, --webcam "
            "and/or --dataset NAME"
        )
    show = args.webcam and has_display()
    if args.output is None and not show:
        raise SystemExit("--output is required (except with --webcam on a display)")
    cfg = setup_cfg(args.config_file, config_opts(args))
    spec = spec_for(cfg)
    if args.confidence_threshold is None:
        args.confidence_threshold = 0.5 if spec is None else spec.demo_threshold
    files = expand_inputs(args.input)
    for path in args.video_input:
        if not os.path.isfile(path):
            raise FileNotFoundError(f"--video-input {path!r}: no such file")
        files.append(path)
    halves = {}  # aligned A|B datasets: the half that is the model's input
    extras = {}  # a streaming model on a video dataset: each frame's video_id / frame_id
    if args.dataset:
        dicts = DatasetCatalog.get(args.dataset)[: args.num_images]
        chosen = [d["file_name"] for d in dicts]
        files += chosen
        half = aligned_input_half(cfg, args.dataset)
        halves = dict.fromkeys(chosen, half) if half else {}
        if spec is not None and spec.streaming:
            extras = {
                d["file_name"]: {k: d[k] for k in ("video_id", "frame_id")}
                for d in dicts
                if "video_id" in d
            }
    if args.exported and args.backend in ("eager", "inductor"):
        raise SystemExit("--exported needs --backend torchscript or onnxruntime")
    predictor = Predictor(cfg, backend=args.backend, exported=args.exported)
    if args.output is not None:
        os.makedirs(args.output, exist_ok=True)
    is_video = [f.lower().endswith(VIDEO_EXTS) or f in args.video_input for f in files]
    images = [f for f, video in zip(files, is_video) if not video]
    skipped = []  # (path, reason) of the files that could not be read
    drawn = []
    for path in tqdm.tqdm(images, desc="images", unit="img"):
        try:
            drawn.append(
                run_image(
                    predictor, path, args.output, args.confidence_threshold, halves.get(path),
                    extras.get(path),
                )
            )  # fmt: skip
        except UnreadableImageError as e:  # names the file; the model's errors still stop
            _skip(skipped, path, e)
    if args.grid:
        grid = write_grid(drawn, args.grid, args.grid_columns, args.grid_tile, args.grid_colors)
        print(f"wrote {grid}")
    videos = [f for f, video in zip(files, is_video) if video]
    for video_id, path in enumerate(videos):
        try:
            run_video(predictor, path, args.output, args.confidence_threshold, video_id)
        except OSError as e:  # cannot open, or no readable frame (names the file)
            _skip(skipped, path, e)
    if files:
        print(f"wrote {len(files) - len(skipped)} visualisation(s) to {args.output}")
    if args.webcam:
        dst, count = run_webcam(
            predictor, cv2.VideoCapture(0), args.output, args.confidence_threshold, show,
            video_id=len(videos),
        )  # fmt: skip
        print(f"webcam: {count} frame(s)" + (f" written to {dst}" if dst else " shown"))
    if skipped:
        print(
            f"{len(skipped)} of {len(files)} input file(s) could not be read and were skipped:\n"
            + "\n".join(f"  {path}: {reason}" for path, reason in skipped),
            file=sys.stderr,
        )
        return 1
    return 0


def _skip(skipped, path, error):
    print(f"WARNING: skipping {path!r}: {error}", file=sys.stderr)
    skipped.append((path, str(error)))


if __name__ == "__main__":
    sys.exit(main())
