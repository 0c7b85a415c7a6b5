"""``clip_window``: where a patch placed at integer coordinates lands on a canvas."""

__all__ = ["clip_window"]


def clip_window(x0: int, y0: int, w: int, h: int, width: int, height: int):
    """``(canvas slices, patch slices)`` (each ``(rows, cols)``) of a w×h patch placed at
    ``(x0, y0)`` on a width×height canvas, cut at the canvas border; None when they do not
    overlap. Works for numpy arrays and tensors alike."""
    cx0, cy0, cx1, cy1 = max(x0, 0), max(y0, 0), min(x0 + w, width), min(y0 + h, height)
    if cx1 <= cx0 or cy1 <= cy0:
        return None
    canvas = (slice(cy0, cy1), slice(cx0, cx1))
    return canvas, (slice(cy0 - y0, cy1 - y0), slice(cx0 - x0, cx1 - x0))
