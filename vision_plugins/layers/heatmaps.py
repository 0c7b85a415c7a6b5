"""Keypoint heatmap encoding and decoding, pure PyTorch, batched over (N, K, H, W), CPU or GPU.

Coordinate convention (every function here): coordinates are continuous heatmap coordinates,
``x`` along W (columns) and ``y`` along H (rows). Heatmap pixel ``(row i, column j)`` covers
``[j, j + 1) x [i, i + 1)`` and has its centre at ``(j + 0.5, i + 0.5)``. This is the convention
of the Stacked Hourglass decoder (``HeatmapParser``), whose final ``+0.5`` turns an integer
argmax into a pixel centre; a keypoint at continuous ``(x, y)`` falls in pixel
``(floor(y), floor(x))``. To map to input pixels multiply by the stride (4 for 256 -> 64).
"""

import torch
import torch.nn.functional as F

__all__ = [
    "render_gaussian_heatmaps",
    "heatmap_nms",
    "heatmap_nms_peaks",
    "decode_heatmaps_quarter_offset",
    "decode_heatmaps_taylor",
    "flip_average_heatmaps",
]


def render_gaussian_heatmaps(points, visible, size, sigma, radius=None):
    """Gaussian target heatmaps ``G = exp(-((x - xc)^2 + (y - yc)^2) / (2 sigma^2))``.

    Args:
        points: (N, K, 2) float, keypoint ``(xc, yc)`` in continuous heatmap coordinates.
        visible: (N, K) bool; invisible keypoints get an all-zero map.
        size: ``(H, W)`` of the output grid (or an int for a square grid).
        sigma: standard deviation in heatmap pixels.
        radius: if given, the Gaussian is cut to the ``(2 * radius + 1)^2`` square of pixels
            centred on the pixel that contains the keypoint, and is 0 outside it.

    Returns:
        (N, K, H, W) tensor in ``points``' dtype, G evaluated at the pixel centres
        ``(j + 0.5, i + 0.5)``; its maximum is at pixel ``(floor(yc), floor(xc))``.

    The official Stacked Hourglass (MPII) target uses ``sigma = OUTPUT_RES / 64`` (1 px at 64x64)
    and a 9x9 kernel (``6 sigma + 3`` pixels, radius ``3 sigma + 1 = 4``) centred on the pixel
    ``(int(y), int(x))``: that is ``render_gaussian_heatmaps(floor(p) + 0.5, v, 64, 1.0, radius=4)``
    for in-grid keypoints ``p``.
    """
    h, w = (size, size) if isinstance(size, int) else tuple(size)
    dtype, device = points.dtype, points.device
    xs = torch.arange(w, dtype=dtype, device=device) + 0.5
    ys = torch.arange(h, dtype=dtype, device=device) + 0.5
    dx = xs.view(1, 1, 1, w) - points[..., 0, None, None]
    dy = ys.view(1, 1, h, 1) - points[..., 1, None, None]
    g = torch.exp(-(dx * dx + dy * dy) / (2.0 * sigma * sigma))
    if radius is not None:
        cx = torch.floor(points[..., 0, None, None])
        cy = torch.floor(points[..., 1, None, None])
        inside = ((xs.view(1, 1, 1, w) - 0.5 - cx).abs() <= radius) & (
            (ys.view(1, 1, h, 1) - 0.5 - cy).abs() <= radius
        )
        g = g * inside
    return g * visible[..., None, None].to(dtype)


def heatmap_nms(heatmaps, kernel: int = 3):
    """k x k (default 3x3) max-pool NMS of (N, C, H, W) maps: values equal to their k x k maximum
    are kept (padding never wins), the rest become 0. ``kernel=1`` keeps everything."""
    n, c, h, w = heatmaps.shape
    pooled = F.max_pool2d(heatmaps.reshape(n * c, 1, h, w), kernel, 1, (kernel - 1) // 2)
    return heatmaps * (pooled.reshape(n, c, h, w) == heatmaps)


def heatmap_nms_peaks(heatmaps):
    """3x3 max-pool NMS, then the top-1 peak of each (N, K) map.

    NMS keeps ``h`` where it equals its 3x3 max (padding never wins) and sets the rest to 0; the
    top-1 is the first maximum of the row-major flattened map (so ``x = ind % W``,
    ``y = ind // W``). As in ``HeatmapParser.calc``, a map whose values are all <= 0 yields an
    arbitrary 0-valued pixel.

    Returns:
        ``(x, y, peak)``: (N, K) int64 column, (N, K) int64 row, (N, K) value of ``heatmaps``.
    """
    n, k, h, w = heatmaps.shape
    peak, ind = heatmap_nms(heatmaps).reshape(n, k, h * w).max(dim=-1)
    return ind % w, torch.div(ind, w, rounding_mode="floor"), peak


def decode_heatmaps_quarter_offset(heatmaps):
    """Stacked Hourglass decoding (``HeatmapParser.parse``): NMS top-1, quarter-pixel offset.

    For each map: ``(x, y, peak) = heatmap_nms_peaks``; then, only if ``peak > 0``, on the raw
    map ``x += 0.25`` if ``h[y, min(x + 1, W - 1)] > h[y, max(x - 1, 0)]`` else ``x -= 0.25``
    (strict: a tie, and a peak in column 0, give -0.25; a peak in column W - 1 gives +0.25), the
    same for ``y`` along rows, and finally ``+0.5`` on both. A peak <= 0 keeps the integer
    ``(x, y)`` with neither offset.

    Returns:
        coords (N, K, 2) ``(x, y)`` in ``heatmaps``' dtype (multiples of 0.25), scores (N, K).
    """
    n, k, h, w = heatmaps.shape
    x, y, peak = heatmap_nms_peaks(heatmaps)
    rows = heatmaps.gather(2, y[..., None, None].expand(n, k, 1, w)).squeeze(2)  # (N, K, W)
    cols = heatmaps.gather(3, x[..., None, None].expand(n, k, h, 1)).squeeze(3)  # (N, K, H)

    def at(line, idx):
        return line.gather(2, idx[..., None]).squeeze(2)

    right = at(rows, (x + 1).clamp(max=w - 1)) > at(rows, (x - 1).clamp(min=0))
    down = at(cols, (y + 1).clamp(max=h - 1)) > at(cols, (y - 1).clamp(min=0))
    dtype = heatmaps.dtype
    coords = torch.stack([x.to(dtype), y.to(dtype)], dim=-1)
    offset = torch.stack([right, down], dim=-1).to(dtype) * 0.5 - 0.25 + 0.5
    coords = torch.where((peak > 0)[..., None], coords + offset, coords)
    return coords, peak


def decode_heatmaps_taylor(heatmaps, eps=1e-10):
    """Sub-pixel decoding by a second-order Taylor expansion of ``log h`` at the argmax.

    With ``m`` the argmax pixel, the keypoint is ``m - H^-1 g`` where ``g`` and ``H`` are the
    central-difference gradient and Hessian of ``log(max(h, eps))`` at ``m``. It is exact for
    an (untruncated) Gaussian heatmap of any sigma, since its log is quadratic. When ``m`` is on
    the border (no central differences) or ``H`` is not negative definite, both offsets are 0.
    Coordinates follow the module convention (pixel centres at ``+0.5``).

    Returns:
        coords (N, K, 2) ``(x, y)`` in ``heatmaps``' dtype, scores (N, K) = the maximum.
    """
    n, k, h, w = heatmaps.shape
    flat = heatmaps.reshape(n, k, h * w)
    score, ind = flat.max(dim=-1)
    x, y = ind % w, torch.div(ind, w, rounding_mode="floor")
    logh = torch.log(heatmaps.clamp(min=eps))
    pad = F.pad(logh, (1, 1, 1, 1), mode="replicate").reshape(n, k, (h + 2) * (w + 2))

    def val(dx, dy):
        return pad.gather(2, ((y + 1 + dy) * (w + 2) + (x + 1 + dx))[..., None]).squeeze(2)

    c = val(0, 0)
    gx = (val(1, 0) - val(-1, 0)) / 2
    gy = (val(0, 1) - val(0, -1)) / 2
    hxx = val(1, 0) - 2 * c + val(-1, 0)
    hyy = val(0, 1) - 2 * c + val(0, -1)
    hxy = (val(1, 1) - val(1, -1) - val(-1, 1) + val(-1, -1)) / 4
    det = hxx * hyy - hxy * hxy
    interior = (x > 0) & (x < w - 1) & (y > 0) & (y < h - 1)
    ok = interior & (hxx < 0) & (det > 0)
    safe = torch.where(ok, det, torch.ones_like(det))
    ox = torch.where(ok, -(hyy * gx - hxy * gy) / safe, torch.zeros_like(det))
    oy = torch.where(ok, -(hxx * gy - hxy * gx) / safe, torch.zeros_like(det))
    dtype = heatmaps.dtype
    coords = torch.stack([x.to(dtype) + 0.5 + ox, y.to(dtype) + 0.5 + oy], dim=-1)
    return coords, score


def flip_average_heatmaps(heatmaps, heatmaps_of_flipped_input, flip_pairs, clip=1.0):
    """Flip-test merging as in the Stacked Hourglass ``test.inference``.

    ``out[:, j] = min((hm[:, j] + mirror_W(hm_flip)[:, flip_pairs[j]]) / 2, clip)``, where
    ``hm_flip`` is the raw output for the W-mirrored input. There is no 1-pixel shift (unlike
    mmpose's ``shift_heatmap=True``). ``clip=None`` skips the clip.

    Args:
        heatmaps, heatmaps_of_flipped_input: (N, K, H, W).
        flip_pairs: length-K sequence or int64 tensor, the index of each joint's mirror joint.
    """
    pairs = torch.as_tensor(flip_pairs, dtype=torch.long, device=heatmaps.device)
    out = (heatmaps + heatmaps_of_flipped_input.flip(-1)[:, pairs]) / 2
    return out if clip is None else out.clamp(max=clip)
