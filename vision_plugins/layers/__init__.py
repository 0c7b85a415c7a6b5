"""Shared pure-PyTorch layers and ops of vision_plugins."""

from .conv_bn import FoldedConvBN, fold_batchnorm_at_inference  # noqa: F401
from .deform_conv import ModulatedDeformConv2d  # noqa: F401
from .heatmaps import (  # noqa: F401
    decode_heatmaps_quarter_offset,
    decode_heatmaps_taylor,
    flip_average_heatmaps,
    heatmap_nms_peaks,
    render_gaussian_heatmaps,
)
from .paste import clip_window  # noqa: F401
from .preprocess import ImagePreprocessor  # noqa: F401
