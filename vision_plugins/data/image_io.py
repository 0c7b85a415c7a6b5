"""The project's one image decoder: every image file, any PIL mode -> the model's format.

:func:`read_image` is used by every mapper, ``Predictor`` (for arrays: :func:`array_to_bgr`),
``tools/demo.py`` and ``tools/visualize_data.py``. It returns an H×W×3 uint8 image in
``INPUT.FORMAT`` (``"BGR"`` or ``"RGB"``; ``"L"`` gives H×W×1) for:

- 8-bit RGB, grayscale (``L``), bilevel (``1``), palette (``P``, also with transparency), CMYK,
  YCbCr: converted to RGB by PIL, as detectron2 does;
- grayscale + alpha (``LA``), RGBA, palette + alpha (``PA``): **the alpha channel is dropped**
  (the colour values are kept, not composited on a background), as ``cv2.imread`` does;
- 16-bit grayscale (PIL ``I;16``/``I;16B``/``I;16L``, and 32-bit ``I`` images whose values fit
  in 0..65535): **scaled to 8 bits by keeping the top byte** (``v >> 8``: 0..255 -> 0,
  256 -> 1, 0x1234 -> 0x12, 65535 -> 255; ``257·k`` -> ``k`` exactly). This is what PIL itself
  does for 16-bit RGB, RGBA and gray+alpha PNGs, so a 16-bit picture gives the same 8-bit image
  whether it is stored as grayscale or RGB. (detectron2's ``read_image`` saturates 16-bit
  grayscale to 255: a white image.)

Anything else (32-bit float ``F`` images, ``I`` images outside 0..65535, missing, empty,
truncated or corrupt files) raises :class:`UnreadableImageError`, whose message names the file.
EXIF orientation is applied as detectron2 does.

detectron2's own ``DatasetMapper`` (and its subclasses) call
``detectron2.data.detection_utils.read_image``, which the project cannot edit. This module
wraps that function **once** (:func:`install_detectron2_decoder`, called when
``vision_plugins.data`` is imported): for the image formats (``RGB``, ``BGR``, ``YUV-BT.601``)
it decodes with :func:`read_image` -- for every 8-bit mode exactly detectron2's own steps (EXIF
orientation, ``convert_PIL_to_numpy``); only the 16-bit modes and the error messages differ.
``format=None`` and ``"L"`` are passed to detectron2 unchanged: detectron2 reads semantic label
maps with ``"L"``, and scaling label values would corrupt them. Wrapping was chosen over a
``DatasetMapper`` subclass because the decoder is called inline in ``DatasetMapper.__call__``:
a subclass would have to copy detectron2's ``__call__`` and would still miss every other
subclass of detectron2's mapper.
"""

import numpy as np
from detectron2.data import detection_utils as d2_utils
from detectron2.utils.file_io import PathManager
from PIL import Image

__all__ = [
    "read_image",
    "array_to_bgr",
    "UnreadableImageError",
    "install_detectron2_decoder",
    "IMAGE_FORMATS",
]

#: formats of ``detection_utils.read_image`` calls that the project decoder takes over
IMAGE_FORMATS = ("RGB", "BGR", "YUV-BT.601")
_SIXTEEN_BIT = ("I;16", "I;16L", "I;16B", "I;16N")


class UnreadableImageError(OSError):
    """An image file cannot be decoded (missing, empty, truncated, corrupt, or a pixel type with
    no defined 8-bit conversion); the message names the file."""


def _top_byte(values, file_name):
    values = np.asarray(values)
    if values.size and (values.min() < 0 or values.max() > 0xFFFF):
        raise UnreadableImageError(
            f"cannot read image file '{file_name}': 32-bit integer pixels outside 0..65535 "
            f"(min {values.min()}, max {values.max()}): no defined 8-bit conversion"
        )
    return (values.astype(np.uint32) >> 8).astype(np.uint8)


def _to_8bit(image, file_name):
    """``image`` (PIL) in a mode detectron2's ``convert_PIL_to_numpy`` decodes right."""
    if image.mode in _SIXTEEN_BIT or image.mode == "I":
        return Image.fromarray(_top_byte(image, file_name), mode="L")
    if image.mode == "F":
        raise UnreadableImageError(
            f"cannot read image file '{file_name}': 32-bit float pixels (PIL mode 'F') have no "
            f"defined 8-bit conversion"
        )
    if image.mode == "P" and "transparency" in image.info:
        return image.convert("RGBA")  # PIL warns on P -> RGB with transparency; same colours
    return image


def read_image(file_name, format="BGR"):
    """``file_name`` decoded to ``format`` (``"BGR"``, ``"RGB"``: H×W×3 uint8; ``"L"``: H×W×1
    uint8; ``"YUV-BT.601"``: float, as detectron2). See the module doc for the modes; failures
    raise :class:`UnreadableImageError` naming the file."""
    try:
        with PathManager.open(file_name, "rb") as f:
            image = Image.open(f)
            image.load()  # decode now: truncated / corrupt data fails here, inside the try
            image = d2_utils._apply_exif_orientation(image)
            return d2_utils.convert_PIL_to_numpy(_to_8bit(image, file_name), format)
    except UnreadableImageError:
        raise
    except Exception as e:  # PIL raises OSError, ValueError, SyntaxError, EOFError, zlib.error
        raise UnreadableImageError(
            f"cannot read image file '{file_name}': {type(e).__name__}: {e}"
        ) from e


def array_to_bgr(image):
    """An image array as ``Predictor`` takes it -> H×W×3 BGR (channel order kept). Accepted:
    H×W×3 (BGR, as ``cv2.imread`` returns), H×W / H×W×1 grayscale (replicated to 3 channels),
    H×W×4 BGRA (``cv2.imread(..., IMREAD_UNCHANGED)``; alpha dropped); uint8, uint16 (top byte
    kept, as :func:`read_image` does for 16-bit files) or float (taken as 0..255 values, as
    before). Other shapes and dtypes raise ``ValueError``."""
    image = np.asarray(image)
    if image.dtype == np.uint16:
        image = (image >> 8).astype(np.uint8)
    elif image.dtype != np.uint8 and image.dtype.kind != "f":
        raise ValueError(
            f"expected a uint8, uint16 or float image, got dtype {image.dtype} "
            f"(shape {image.shape})"
        )
    if image.ndim == 2 or (image.ndim == 3 and image.shape[2] == 1):  # grayscale
        image = np.repeat(image.reshape(image.shape[:2] + (1,)), 3, axis=2)
    elif image.ndim == 3 and image.shape[2] == 4:  # BGRA
        image = image[:, :, :3]
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(
            f"expected an H×W×3 BGR or H×W grayscale image (or H×W×4 BGRA), got shape "
            f"{image.shape}"
        )
    return image


_D2_READ_IMAGE = d2_utils.read_image


def _detectron2_read_image(file_name, format=None):
    """``detection_utils.read_image`` with the project decoder for image formats (module doc)."""
    if format in IMAGE_FORMATS:
        return read_image(file_name, format)
    return _D2_READ_IMAGE(file_name, format)


_detectron2_read_image.__wrapped__ = _D2_READ_IMAGE


def install_detectron2_decoder():
    """Make ``detectron2.data.detection_utils.read_image`` decode RGB/BGR images with
    :func:`read_image` (module doc). Idempotent. Code that bound the function by name before this
    ran (``from detectron2.data.detection_utils import read_image``) keeps detectron2's."""
    d2_utils.read_image = _detectron2_read_image
