#!/usr/bin/env python
"""Run a model on images, a folder, a video file or a registered dataset; write visualisations.

    python tools/demo.py --config-file configs/Mask-RCNN/mask_rcnn_R_18_FPN_synth_shapes.yaml \
        --input img1.png folder/ clip.mp4 --output out/ MODEL.WEIGHTS output/model_final.pth
    python tools/demo.py --config-file ... --dataset vp_shapes_val --num-images 4 --output out/

Images -> ``<output>/<name>.png``; a video -> ``<output>/<name>.mp4`` (frame by frame; a streaming
model (``ArchSpec.streaming``: VPSNet, YolactEdge) gets each frame with the video's ``video_id``
and its ``frame_id``, so it carries its state across frames). Outputs detectron2 cannot draw are
drawn by the architecture's spec (``ArchSpec.visualize``: DensePose IUV, VPSNet's colour per track
id); small inputs are drawn enlarged.

Images are decoded by the project decoder (``vision_plugins.data.image_io.read_image``: 16-bit,
grayscale, RGBA, palette images). A file that cannot be read (an image the decoder refuses, a
video that does not open or has no frame) is skipped with a warning naming it; the others are
processed, and the run then exits with status 1 and the count of skipped files.
"""

import argparse
import glob
import itertools
import os
import sys

import cv2
import numpy as np
import tqdm
from detectron2.data import DatasetCatalog
from detectron2.utils.video_visualizer import VideoVisualizer
from detectron2.utils.visualizer import ColorMode, Visualizer

import vision_plugins  # noqa: F401  (registers everything)
from vision_plugins.data.image_io import UnreadableImageError, read_image
from vision_plugins.engine import Predictor, setup_cfg
from vision_plugins.spec import spec_for

IMAGE_EXTS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
VIDEO_EXTS = (".mp4", ".avi", ".mov", ".mkv", ".webm")


def get_parser():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config-file", required=True)
    parser.add_argument("--input", nargs="*", default=[], help="images, folders, globs, videos")
    parser.add_argument("--dataset", help="take the images of this registered dataset")
    parser.add_argument("--num-images", type=int, default=8, help="with --dataset: how many")
    parser.add_argument("--output", required=True, help="output folder")
    parser.add_argument("--confidence-threshold", type=float, default=0.5)
    parser.add_argument("opts", nargs=argparse.REMAINDER, help="KEY VALUE config overrides")
    return parser


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


def run_image(predictor, path, out_dir, threshold):
    bgr = read_image(path, format="BGR")
    preds = _filter(predictor(bgr), threshold)
    vis = draw(preds, bgr[:, :, ::-1], predictor.metadata, spec=spec_for(predictor.cfg))
    dst = os.path.join(out_dir, os.path.splitext(os.path.basename(path))[0] + ".png")
    cv2.imwrite(dst, vis[:, :, ::-1])
    return dst


def run_video(predictor, path, out_dir, threshold, video_id):
    """Frame ``k`` (from 1) goes to a streaming model as ``predictor(frame, video_id=video_id,
    frame_id=k)``, to others as ``predictor(frame)``; give every video of a run its own
    ``video_id`` (VPSNet keeps state per id).
    Panoptic outputs are drawn by :func:`draw`, instances by detectron2's ``VideoVisualizer``
    (colours carried over by box overlap) enlarged to :func:`draw`'s size."""
    cap = cv2.VideoCapture(path)
    if not cap.isOpened():
        raise OSError(f"cannot open video file {path!r}")
    fps = cap.get(cv2.CAP_PROP_FPS) or 25.0
    n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) or None
    dst = os.path.join(out_dir, os.path.splitext(os.path.basename(path))[0] + ".mp4")
    visualizer = VideoVisualizer(predictor.metadata, ColorMode.IMAGE)
    spec = spec_for(predictor.cfg)
    streaming = spec is not None and spec.streaming
    writer = None
    frame_ids = range(1, n + 1) if n else itertools.count(1)
    for frame_id in tqdm.tqdm(frame_ids, desc=os.path.basename(path), unit="frame"):
        ok, frame = cap.read()
        if not ok:
            break
        extra = {"video_id": video_id, "frame_id": frame_id} if streaming else {}
        preds = _filter(predictor(frame, **extra), threshold)
        rgb = frame[:, :, ::-1]
        if "panoptic_seg" in preds:
            vis = draw(preds, rgb, predictor.metadata, spec=spec)
        else:
            vis = visualizer.draw_instance_predictions(rgb, preds["instances"]).get_image()
            scale = enlargement(frame.shape)
            vis = cv2.resize(vis, None, fx=scale, fy=scale, interpolation=cv2.INTER_LINEAR)
        vis = np.ascontiguousarray(vis[:, :, ::-1])
        if writer is None:
            h, w = vis.shape[:2]
            writer = cv2.VideoWriter(dst, cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
        writer.write(vis)
    cap.release()
    if writer is None:
        raise OSError(f"video file {path!r} has no readable frame")
    writer.release()
    return dst


def main(argv=None):
    args = get_parser().parse_args(argv)
    if not args.input and not args.dataset:
        raise SystemExit("give --input (images, folders, videos) and/or --dataset NAME")
    cfg = setup_cfg(args.config_file, args.opts)
    files = expand_inputs(args.input)
    if args.dataset:
        files += [d["file_name"] for d in DatasetCatalog.get(args.dataset)[: args.num_images]]
    predictor = Predictor(cfg)
    os.makedirs(args.output, exist_ok=True)
    images = [f for f in files if not f.lower().endswith(VIDEO_EXTS)]
    skipped = []  # (path, reason) of the files that could not be read
    for path in tqdm.tqdm(images, desc="images", unit="img"):
        try:
            run_image(predictor, path, args.output, args.confidence_threshold)
        except UnreadableImageError as e:  # names the file; the model's errors still stop
            _skip(skipped, path, e)
    videos = [f for f in files if f.lower().endswith(VIDEO_EXTS)]
    for video_id, path in enumerate(videos):
        try:
            run_video(predictor, path, args.output, args.confidence_threshold, video_id)
        except OSError as e:  # cannot open, or no readable frame (names the file)
            _skip(skipped, path, e)
    print(f"wrote {len(files) - len(skipped)} visualisation(s) to {args.output}")
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
