"""Photometric pieces of the official CornerNet-family and CenterNet ("Objects as Points")
training recipes, which share them: the crop-centre border rule, colour jittering (brightness,
contrast, saturation in a drawn order) and PCA ("AlexNet") lighting with the eigen values /
vectors both official codebases store."""

import cv2
import numpy as np

__all__ = ["PCA_EIGEN_VALUES", "PCA_EIGEN_VECTORS", "crop_border", "jitter_and_light"]

# PCA of the RGB pixels as the official codes store it (rows in BGR order)
PCA_EIGEN_VALUES = np.array([0.2141788, 0.01817699, 0.00341571], np.float32)
PCA_EIGEN_VECTORS = np.array(
    [
        [-0.58752847, -0.69563484, 0.41340352],
        [-0.5832747, 0.00994535, -0.81221408],
        [-0.56089297, 0.71832671, 0.41158938],
    ],
    np.float32,
)
COLOR_OPERATIONS = ("brightness", "contrast", "saturation")


def crop_border(border, size):
    """The border kept free of crop centres along an image side of ``size`` pixels: ``border``
    halved (integer division by 2, 4, ...) until ``size - b > b`` (the official ``_get_border``;
    0 at the end for a side too small for any border)."""
    b = border
    while b > 0 and size - b <= b:
        b //= 2
    return b


def jitter_and_light(x, order, alphas, lighting=None, eig_val=PCA_EIGEN_VALUES,
                     eig_vec=PCA_EIGEN_VECTORS, image_format="BGR"):  # fmt: skip
    """The official colour jittering + lighting with the draws given, in place on ``x`` (H×W×3
    float32 in [0, 1]; returned): for each operation of ``order`` with factor ``a`` of
    ``alphas``: brightness ``x *= a``; contrast ``x = a x + (1 - a) mean(gray)``; saturation
    ``x = a x + (1 - a) gray``, the gray image (OpenCV) taken once, before the first operation;
    then, if ``lighting`` (3,) is given, ``x += eig_vec @ (eig_val * lighting)`` (rows of
    ``eig_vec`` in BGR order, reversed for ``image_format`` "RGB"). No clipping."""
    code = cv2.COLOR_RGB2GRAY if image_format == "RGB" else cv2.COLOR_BGR2GRAY
    gray = cv2.cvtColor(x, code)
    gray_mean = gray.mean()
    for op, a in zip(order, alphas):
        if op not in COLOR_OPERATIONS:
            raise ValueError(f"unknown colour operation {op!r}; expected one of {COLOR_OPERATIONS}")
        x *= a
        if op == "contrast":
            x += (1 - a) * gray_mean
        elif op == "saturation":
            x += (1 - a) * gray[:, :, None]
    if lighting is not None:
        shift = np.asarray(eig_vec, np.float32) @ (np.asarray(eig_val, np.float32) * lighting)
        x += shift[::-1] if image_format == "RGB" else shift
    return x
