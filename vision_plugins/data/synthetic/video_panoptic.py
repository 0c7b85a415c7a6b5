"""``vp_video_panoptic``: 30-frame 128x192 videos in the Cityscapes-VPS layout.

Each video has the ``vp_panoptic`` stuff (sky / grass / road, static) and 3-5 things (circles,
squares, triangles) moving at constant, known velocities (0.8-3 px per frame): some start
outside the image and enter, some leave, and they occlude each other in a fixed depth order.
Every other video has a static dark void blob, every fourth a static crowd cluster. Frames
5, 10, ..., 30 are annotated (COCO-panoptic PNG; segment id = category id for stuff,
``category * 1000 + track`` for things, ``category * 1000`` for crowd, consistent over the
video); a thing showing fewer than 20 pixels is left unlabelled (void).

A split directory holds ``images/VVVV_FFFF_vp_video.png`` (every frame), ``panoptic_video/``
(annotated frames), ``im_all_info.json`` (every frame, id = video * 10000 + frame),
``panoptic_gt_video.json`` and the exact flow ``flow/`` (:func:`flow_file_name`) from every frame
to the previous one and from every annotated frame to the annotated frames 5 frames away.
"""

import json
import os

import cv2
import numpy as np

from ..panoptic import panoptic_metadata
from ..video_panoptic import (
    FRAME_ID_BASE,
    flow_file_name,
    load_video_panoptic,
    write_flow_png,
)
from .common import MIN_AREA, Layers, SyntheticSpec, image_rng, paint, saturated_color
from .panoptic import CATEGORIES, paint_stuff, segment_bbox, stuff_layout, write_panoptic_png
from .shapes import CATEGORIES as THING_CATEGORIES
from .shapes import add_crowd_cluster, shape_mask

__all__ = ["VIDEO_PANOPTIC_SPEC", "render_video", "HEIGHT", "WIDTH", "NUM_FRAMES"]

HEIGHT, WIDTH = 128, 192
NUM_FRAMES = 30
ANNOTATION_STRIDE = 5
TRAIN_REF_OFFSET = 5  # flow files from each annotated frame to the annotated frames +-5 away


class _Thing:
    """A rigid shape moving at constant velocity (centre at frame f: ``start + f * velocity``)."""

    def __init__(self, rng, track_id, hues):
        cat = THING_CATEGORIES[rng.integers(len(THING_CATEGORIES))]
        self.category_id, self.name, self.track_id = cat["id"], cat["name"], track_id
        self.size = rng.uniform(20, 40)
        self.angle = rng.uniform(0, 2 * np.pi)
        speed = rng.uniform(0.8, 3.0) * rng.choice([-1, 1])
        self.velocity = np.array([speed, rng.uniform(-0.6, 0.6)])
        if rng.random() < 0.4:  # enters from the side it moves away from, at a random time
            x = -self.size if speed > 0 else WIDTH + self.size
            x -= self.velocity[0] * rng.uniform(0, NUM_FRAMES / 2)
        else:
            x = rng.uniform(self.size / 2, WIDTH - self.size / 2)
        self.start = np.array([x, rng.uniform(40, HEIGHT - 15)])
        self.color, hue = saturated_color(rng, hues)
        hues.append(hue)

    def mask(self, frame):
        return shape_mask(
            self.name, self.start + frame * self.velocity, self.size, self.angle, (HEIGHT, WIDTH)
        )


def render_video(rng: np.random.Generator, index: int):
    """Yield ``(bgr frame, ids, segments, things_by_id)`` for every frame of video ``index``:
    ``ids`` the segment-id map (0 = void), ``segments`` ``{id: (category_id, iscrowd)}``."""
    background = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
    stuff = stuff_layout(rng, (HEIGHT, WIDTH))
    for cat, mask in stuff.items():
        paint_stuff(background, cat, mask, rng)
    void = np.zeros((HEIGHT, WIDTH), bool)
    if index % 2 == 1:
        blob = np.zeros((HEIGHT, WIDTH), np.uint8)
        center = (int(rng.uniform(15, WIDTH - 15)), int(rng.uniform(15, HEIGHT - 15)))
        axes = tuple(int(v) for v in rng.uniform(5, 11, size=2))
        cv2.ellipse(blob, center, axes, rng.uniform(0, 180), 0, 360, 1, -1)
        void = blob.astype(bool)
        paint(background, void, (20, 20, 20), rng, noise=3)
    crowd_layers = Layers()
    if index % 4 == 2:
        add_crowd_cluster(rng, background, crowd_layers, THING_CATEGORIES, False)
    crowd = [(mask, cat) for mask, cat, _ in crowd_layers.segments()]
    hues = []
    things = [_Thing(rng, k + 1, hues) for k in range(rng.integers(3, 6))]
    by_id = {t.category_id * 1000 + t.track_id: t for t in things}
    for frame in range(NUM_FRAMES):
        image = background.copy()
        image[:] = np.clip(image + rng.normal(0, 2, image.shape), 0, 255).astype(np.uint8)
        ids = np.zeros((HEIGHT, WIDTH), np.int64)
        segments = {}
        for cat, mask in stuff.items():
            ids[mask & ~void] = cat
            segments[cat] = (cat, False)
        for mask, cat in crowd:
            ids[mask] = cat * 1000
            segments[cat * 1000] = (cat, True)
        for seg_id, thing in by_id.items():  # back to front
            mask = thing.mask(frame)
            paint(image, mask, thing.color, rng)
            ids[mask] = seg_id
            segments[seg_id] = (thing.category_id, False)
        for seg_id in list(segments):
            area = int((ids == seg_id).sum())
            if area == 0 or (seg_id in by_id and area < MIN_AREA):
                ids[ids == seg_id] = 0
                del segments[seg_id]
        yield image, ids, segments, by_id


def _flow(ids, things, frame, ref_frame):
    """Exact flow from ``frame`` to ``ref_frame``: a visible thing pixel moves with its thing,
    everything else is static."""
    flow = np.zeros((*ids.shape, 2), np.float32)
    for seg_id, thing in things.items():
        flow[ids == seg_id] = thing.velocity * (ref_frame - frame)
    return flow


def _raw_ids(things, frame):
    """Segment-id map of the things alone (no area filter): what the flow follows."""
    ids = np.zeros((HEIGHT, WIDTH), np.int64)
    for seg_id, thing in things.items():
        ids[thing.mask(frame)] = seg_id
    return ids


def generate_split(out_dir: str, num_videos: int, seed: int) -> None:
    """Write one ``vp_video_panoptic`` split (``num_videos`` videos) into ``out_dir``."""
    for sub in ("images", "panoptic_video", "flow"):
        os.makedirs(os.path.join(out_dir, sub))
    frames, images, annotations = [], [], []
    for video in range(1, num_videos + 1):
        for f, (image, ids, segments, things) in enumerate(
            render_video(image_rng(seed, video), video)
        ):
            frame_id = f + 1
            name = f"{video:04d}_{frame_id:04d}_vp_video.png"
            if not cv2.imwrite(os.path.join(out_dir, "images", name), image):
                raise OSError(f"could not write {name} to {out_dir}")
            entry = {
                "id": video * FRAME_ID_BASE + frame_id,
                "file_name": name,
                "height": HEIGHT,
                "width": WIDTH,
                "video_id": video,
                "frame_id": frame_id,
            }
            frames.append(entry)
            raw = _raw_ids(things, f)
            refs = [frame_id - 1] if frame_id > 1 else []
            if frame_id % ANNOTATION_STRIDE == 0:
                refs += [frame_id - TRAIN_REF_OFFSET, frame_id + TRAIN_REF_OFFSET]
            for ref in sorted(set(r for r in refs if 1 <= r <= NUM_FRAMES)):
                write_flow_png(
                    flow_file_name(os.path.join(out_dir, "flow"), video, frame_id, ref),
                    _flow(raw, things, f, ref - 1),
                )
            if frame_id % ANNOTATION_STRIDE:
                continue
            write_panoptic_png(os.path.join(out_dir, "panoptic_video", name), ids)
            images.append(entry)
            annotations.append(
                {
                    "image_id": entry["id"],
                    "file_name": name,
                    "segments_info": [
                        {
                            "id": seg_id,
                            "category_id": cat,
                            "iscrowd": int(crowd),
                            "bbox": segment_bbox(ids == seg_id),
                            "area": int((ids == seg_id).sum()),
                        }
                        for seg_id, (cat, crowd) in sorted(segments.items())
                    ],
                }
            )
    info = {"description": "vision_plugins synthetic video panoptic dataset"}
    with open(os.path.join(out_dir, "im_all_info.json"), "w") as f:
        json.dump({"info": info, "images": frames, "categories": CATEGORIES}, f)
    with open(os.path.join(out_dir, "panoptic_gt_video.json"), "w") as f:
        json.dump(
            {"info": info, "images": images, "annotations": annotations, "categories": CATEGORIES},
            f,
        )


def _load(json_file: str, image_root: str, dataset_name: str):
    split = os.path.dirname(json_file)
    return load_video_panoptic(
        json_file,
        os.path.join(split, "panoptic_gt_video.json"),
        image_root,
        os.path.join(split, "panoptic_video"),
        dataset_name,
        os.path.join(split, "flow"),
    )


def _split_metadata(split_dir: str) -> dict:
    return {
        "panoptic_json": os.path.join(split_dir, "panoptic_gt_video.json"),
        "panoptic_root": os.path.join(split_dir, "panoptic_video"),
        "flow_root": os.path.join(split_dir, "flow"),
    }


VIDEO_PANOPTIC_SPEC = SyntheticSpec(
    prefix="vp_video_panoptic",
    version=1,
    splits={"train": 40, "val": 8},  # videos of NUM_FRAMES frames
    generate=generate_split,
    metadata={**panoptic_metadata(CATEGORIES), "annotation_stride": ANNOTATION_STRIDE},
    load=_load,
    evaluator_type="video_panoptic",
    annotation_file="im_all_info.json",
    split_metadata=_split_metadata,
)
