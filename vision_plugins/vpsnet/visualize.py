"""Drawing VPSNet's tracked panoptic output: things coloured by their track id, so an object keeps
its colour in every frame of a video."""

import colorsys

import numpy as np
from detectron2.utils.visualizer import ColorMode, Visualizer

__all__ = ["track_color", "draw_tracked_panoptic", "draw_predictions"]

GOLDEN = (5**0.5 - 1) / 2
STUFF_EDGE = (1.0, 1.0, 240 / 255)  # the off-white outline of detectron2's panoptic stuff


def track_color(track_id: int) -> tuple:
    """RGB in [0, 1] of a track: the hue steps by the golden ratio from one id to the next (ids
    1-10 are at least 60/255 apart in some channel), at fixed saturation and brightness; a
    function of the id only, so the same id has the same colour in every frame."""
    return colorsys.hsv_to_rgb((track_id * GOLDEN) % 1.0, 0.85, 0.95)


def draw_tracked_panoptic(visualizer, panoptic_seg, segments_info, alpha: float = 0.7):
    """Draw a detectron2 panoptic result (``panoptic_seg``: H×W segment ids on the CPU; 0 and ids
    without a segment are void) on a ``Visualizer``: stuff segments (``category_id`` indexes
    ``stuff_classes`` / ``stuff_colors``) in their class colour, largest first, as
    ``Visualizer.draw_panoptic_seg_predictions`` does; thing segments in
    ``track_color(track_id)``, labelled ``"<thing class> <track_id>"``. Returns the ``VisImage``.
    """
    meta = visualizer.metadata
    seg = np.asarray(panoptic_seg)
    stuff_colors = meta.get("stuff_colors")
    segments = [(seg == s["id"], s) for s in segments_info]
    things = []
    for mask, s in sorted(segments, key=lambda ms: -int(ms[0].sum())):
        if not mask.any():
            continue
        if s["isthing"]:
            if "track_id" not in s:
                raise ValueError(f"thing segment {s['id']} of panoptic_seg has no 'track_id': {s}")
            things.append((mask, s))
            continue
        c = s["category_id"]
        visualizer.draw_binary_mask(
            mask,
            color=None if stuff_colors is None else [x / 255 for x in stuff_colors[c]],
            edge_color=STUFF_EDGE,
            text=meta.stuff_classes[c],
            alpha=alpha,
            area_threshold=0,
        )
    if things:
        visualizer.overlay_instances(
            masks=[m for m, _ in things],
            labels=[f"{meta.thing_classes[s['category_id']]} {s['track_id']}" for _, s in things],
            assigned_colors=[track_color(s["track_id"]) for _, s in things],
            alpha=alpha,
        )
    return visualizer.output


def draw_predictions(rgb: np.ndarray, predictions: dict, metadata, scale: float):
    """``tools/demo.py``'s drawing of a tracked panoptic output (:func:`draw_tracked_panoptic`);
    None when no segment carries a ``track_id`` (detectron2's panoptic drawing applies)."""
    if "panoptic_seg" not in predictions:
        return None
    seg, info = predictions["panoptic_seg"]
    if not any("track_id" in s for s in info):
        return None
    vis = Visualizer(rgb, metadata, scale=scale, instance_mode=ColorMode.IMAGE)
    return draw_tracked_panoptic(vis, seg.to("cpu"), info).get_image()
