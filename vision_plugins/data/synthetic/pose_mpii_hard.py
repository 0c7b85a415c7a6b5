"""``vp_pose_mpii_hard``: a harder single-person pose set in the MPII json format (16 joints).

The figures are ``vp_pose_mpii``'s (:func:`.people._figure`, joints by :func:`.pose_mpii.
mpii_joints`, entries by :func:`.pose_mpii.mpii_entry`), in the situations that make real MPII
hard and that ``vp_pose_mpii`` leaves out:

- **scale spread**: the person is 0.6-1.4 × the size that fills the crop in ``vp_pose_mpii``
  (height 0.8 × f × 160 px, f ∈ [0.6, 1.4]) while the annotated ``center`` / ``scale`` stay
  those of the whole 160² image (centre ± 4 px, scale = 160 / 1.25 / 200 × [0.95, 1.05]): the
  crop the model sees no longer normalises the person's size or position (body centre ± 20 % of
  the image);
- **in-plane rotation** ±40° (``vp_pose_mpii``: ±8°) and **wider joint angles** (arms anywhere
  from across the body to overhead, bent elbows and knees, raised and crossed legs);
- **truncation** at the crop border: joints outside the image are not annotated (``joints_vis``
  0, coordinates −1, as MPII does); the head box centre and at least 8 joints stay inside;
- **occluders**: 1-3 random rectangles, ellipses or polygons near joints (in 70 % of images);
  **clutter**: a textured background (gratings, checker patches) and 1-4 distractor limbs
  (thick two-segment lines in skin / clothing colours), some in front of the person;
- **a second, partial person** (in 50 % of images) beside the first, behind or in front of it;
  it is not annotated (an MPII entry labels one person).

Occluded joints stay annotated (``joints_vis`` 1) and get MPII's ``is_visible`` 0 (loaded as
keypoint v = 1): a joint is occluded when a thing drawn after the person (second person in front,
a front distractor limb, an occluder) covers its pixel. Deterministic per seed; 1200 train / 200
val images, about 25 s to generate on one core.
"""

import numpy as np

from .common import SyntheticSpec, fill_polygon, paint, saturated_color, smooth_background
from .people import _SKIN_TONES, POSE_LIMITS, _crop, _figure
from .pose_mpii import MPII_METADATA, load_mpii_split, mpii_entry, mpii_joints, write_mpii_split

__all__ = ["POSE_MPII_HARD_SPEC", "HARD_POSE_LIMITS", "SIZE"]

SIZE = 160  # the image is the nominal crop
SCALE_RANGE = (0.6, 1.4)  # person size relative to vp_pose_mpii's (extent = crop / 1.25)
TILT = 40.0
MIN_JOINTS_INSIDE = 8
# wider articulation than people.POSE_LIMITS (same keys)
HARD_POSE_LIMITS = {
    **POSE_LIMITS,
    "arm": (-20, 175),
    "forearm_bend": (-100, 110),
    "forearm_clip": (-40, 210),
    "thigh": (-25, 75),
    "shin_bend": (-70, 40),
    "shin_clip": (-40, 100),
}


def _textured_background(rng: np.random.Generator) -> np.ndarray:
    """``smooth_background`` plus 2-4 gratings / checker patches (random frequency and angle)."""
    image = smooth_background(rng, SIZE, SIZE).astype(np.float64)
    yy, xx = np.mgrid[0:SIZE, 0:SIZE].astype(np.float64)
    for _ in range(rng.integers(2, 5)):
        angle, period = rng.uniform(0, np.pi), rng.uniform(4, 16)
        u = np.cos(angle) * xx + np.sin(angle) * yy
        if rng.random() < 0.5:
            pattern = np.sin(2 * np.pi * u / period)
        else:
            v = -np.sin(angle) * xx + np.cos(angle) * yy
            pattern = np.sign(np.sin(np.pi * u / period) * np.sin(np.pi * v / period))
        cx, cy, r = rng.uniform(0, SIZE), rng.uniform(0, SIZE), rng.uniform(20, 60)
        window = ((xx - cx) ** 2 + (yy - cy) ** 2) < r * r
        tint = rng.uniform(10, 35) * (0.7 + 0.6 * rng.random(3))
        image[window] += pattern[window, None] * tint
    return np.clip(np.rint(image), 0, 255).astype(np.uint8)


def _limb(rng: np.random.Generator, shape) -> np.ndarray:
    """A distractor limb: a thick two-segment line somewhere in (or across) the image."""
    start = rng.uniform(-0.1, 1.1, size=2) * SIZE
    length, angle = rng.uniform(0.12, 0.3) * SIZE, rng.uniform(0, 2 * np.pi)
    mid = start + length * np.array([np.cos(angle), np.sin(angle)])
    angle += rng.uniform(-2.0, 2.0)
    end = mid + length * np.array([np.cos(angle), np.sin(angle)])
    half = rng.uniform(1.5, 4.5)
    mask = np.zeros(shape, bool)
    for p, q in ((start, mid), (mid, end)):
        d = (q - p) / max(np.linalg.norm(q - p), 1e-6)
        n = np.array([-d[1], d[0]]) * half
        mask |= fill_polygon(shape, np.array([p + n, q + n, q - n, p - n]))
    return mask


def _limb_color(rng: np.random.Generator) -> np.ndarray:
    if rng.random() < 0.5:
        return _SKIN_TONES[rng.integers(len(_SKIN_TONES))] + rng.uniform(-10, 10, size=3)
    return saturated_color(rng)[0] * rng.uniform(0.6, 1.0)


def _occluder(rng: np.random.Generator, near: np.ndarray) -> np.ndarray:
    """A rectangle, ellipse or polygon mask centred near ``near`` (a joint)."""
    center = near + rng.normal(0, 6, size=2)
    half = rng.uniform(6, 20, size=2)
    kind = rng.integers(3)
    if kind == 0:
        angle = rng.uniform(0, np.pi)
        c, s = np.cos(angle), np.sin(angle)
        corners = np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]]) * half
        return fill_polygon((SIZE, SIZE), corners @ np.array([[c, s], [-s, c]]) + center)
    if kind == 1:
        yy, xx = np.mgrid[0:SIZE, 0:SIZE]
        return ((xx - center[0]) / half[0]) ** 2 + ((yy - center[1]) / half[1]) ** 2 <= 1
    angles = np.sort(rng.uniform(0, 2 * np.pi, size=rng.integers(3, 7)))
    radii = rng.uniform(0.5, 1.0, size=len(angles))[:, None] * half
    points = center + radii * np.stack([np.cos(angles), np.sin(angles)], 1)
    return fill_polygon((SIZE, SIZE), points)


def _person(rng: np.random.Generator, hues: list, center: np.ndarray, f: float):
    """A figure of relative size ``f`` whose body centre is near ``center``."""
    height = 0.8 * f * SIZE
    tilt = rng.uniform(-TILT, TILT)
    t = np.deg2rad(tilt)
    # the hip centre sits 0.02 body heights below the middle of the standing figure
    origin = center + 0.02 * height * np.array([-np.sin(t), np.cos(t)])
    return _figure(rng, hues, height=height, tilt=tilt, origin=origin, limits=HARD_POSE_LIMITS)


def _render(rng: np.random.Generator, index: int):
    image = _textured_background(rng)
    covered = np.zeros((SIZE, SIZE), bool)  # everything drawn after the person
    front_limbs = []  # distractor limbs: 70 % behind the person, 30 % in front
    for _ in range(rng.integers(1, 5)):
        front = rng.random() < 0.3
        limb = (_limb(rng, (SIZE, SIZE)), _limb_color(rng))
        if front:
            front_limbs.append(limb)
        else:
            paint(image, *limb, rng, noise=4.0)
    for _attempt in range(50):  # the person: head and >= MIN_JOINTS_INSIDE joints in the image
        f = rng.uniform(*SCALE_RANGE)
        parts, kp, hue, head = _person(rng, [], SIZE / 2 + rng.uniform(-0.2, 0.2, 2) * SIZE, f)
        joints = mpii_joints(kp, head)
        inside = (joints >= 0).all(1) & (joints < SIZE).all(1)
        head_center = np.reshape(head["box"], (2, 2)).mean(0)
        if inside.sum() >= MIN_JOINTS_INSIDE and ((head_center >= 0) & (head_center < SIZE)).all():
            break
    second = None
    if rng.random() < 0.5:  # a second person beside the first, partly in the crop
        side = rng.choice([-1.0, 1.0])
        center = (
            SIZE / 2 + np.array([side * rng.uniform(0.45, 0.75), rng.uniform(-0.2, 0.2)]) * SIZE
        )
        second = (_person(rng, [hue], center, rng.uniform(*SCALE_RANGE)), rng.random() < 0.4)
    if second is not None and not second[1]:
        for mask, color in second[0][0]:
            paint(image, _crop(mask), color, rng, noise=4.0)
    for mask, color in parts:
        paint(image, _crop(mask), color, rng, noise=4.0)
    if second is not None and second[1]:
        for mask, color in second[0][0]:
            paint(image, _crop(mask), color, rng, noise=4.0)
            covered |= _crop(mask)
    for mask, color in front_limbs:
        paint(image, mask, color, rng, noise=4.0)
        covered |= mask
    if rng.random() < 0.7:
        for _ in range(rng.integers(1, 4)):
            rect = _occluder(rng, joints[rng.integers(len(joints))])
            color = rng.uniform(40, 220) + rng.uniform(-25, 25, size=3)
            paint(image, rect, color, rng, noise=rng.uniform(3, 12))
            covered |= rect
    pixel = np.clip(np.rint(joints).astype(int), 0, SIZE - 1)
    visible = inside & ~covered[pixel[:, 1], pixel[:, 0]]
    center = SIZE / 2 + rng.uniform(-4, 4, size=2)
    scale = SIZE / 1.25 / 200 * rng.uniform(0.95, 1.05)
    return image, mpii_entry(joints, inside, head["box"], center, scale, SIZE, visible=visible)


def generate_split(out_dir: str, num_images: int, seed: int) -> None:
    """Write one ``vp_pose_mpii_hard`` split (``images/*.png``, ``annotations.json``)."""
    write_mpii_split(out_dir, num_images, seed, _render)


POSE_MPII_HARD_SPEC = SyntheticSpec(
    prefix="vp_pose_mpii_hard",
    version=1,
    splits={"train": 1200, "val": 200},
    generate=generate_split,
    metadata=MPII_METADATA,
    load=load_mpii_split,
    evaluator_type="pckh",
)
