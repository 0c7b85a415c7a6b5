"""``Predictor``: single-image inference with the architecture's own test transform."""

import logging

import torch
from detectron2.data import MetadataCatalog
from detectron2.data import transforms as T
from detectron2.data.detection_utils import convert_image_to_rgb
from detectron2.modeling import build_model

from ..checkpoint import Checkpointer
from ..data import array_to_bgr, build_test_augmentation
from ..export.backends import BACKENDS, ExportedModel, load_backend
from ..spec import SPECS, spec_for

__all__ = ["Predictor", "exported_model"]


def exported_model(cfg, model, backend, exported=None, threads=None):
    """``model`` (eval mode) run through ``backend``: ``ExportedModel`` (callable on a list of
    input dicts, like the model) of its spec's exporter's graphs; ``exported``: a directory of
    exported files or None (exported on the fly)."""
    if backend not in BACKENDS:
        raise ValueError(f"backend {backend!r}: one of {BACKENDS}")
    spec = spec_for(cfg)
    if spec is None or spec.exporter is None:
        available = sorted(k for k, s in SPECS.items() if s.exporter is not None)
        raise ValueError(
            f"backend {backend!r}: MODEL.META_ARCHITECTURE={cfg.MODEL.META_ARCHITECTURE!r} has "
            f"no exporter (available: {available}); use backend 'eager'"
        )
    exportable = spec.exporter(model.eval(), cfg)
    return ExportedModel(exportable, load_backend(backend, exportable, exported, threads))


class Predictor:
    """Like detectron2's ``DefaultPredictor``, but the test transform is the architecture's own
    (its spec's, e.g. YOLACT's fixed 550×550 resize; the same one the evaluation loader
    applies), not always a shortest-edge resize.

    ``predictor(image)`` takes an H×W×3 uint8 image in BGR order (as ``cv2.imread`` returns), or
    a grayscale H×W / H×W×1 image (replicated to 3 channels), or H×W×4 BGRA (alpha dropped);
    uint16 images are scaled to 8 bits by their top byte, as the project decoder does for 16-bit
    files (``vision_plugins.data.image_io``; read files with its ``read_image``). It returns the
    model's output dict for it (``instances`` etc. in original-image coordinates).

    ``backend``: ``"eager"`` (the model itself), ``"torchscript"`` or ``"onnxruntime"``: the
    model's exported graphs (its spec's ``exporter``, ``vision_plugins.export``) run in that
    runtime, with the same pre- and post-processing; ``exported`` is a directory written by
    ``tools/export_model.py`` in the matching format, or None: the graphs are exported on the fly
    (into a temporary directory, checked against eager). ``"inductor"``: the same graphs compiled
    in this process by ``torch.compile`` (Inductor, freezing; checked against eager when the
    predictor is made, compiled again for each new input size, eager past 8 sizes; needs a C++
    compiler).
    ``threads``: ONNX Runtime's intra-op threads (default: torch's).

    ``predictor(image, **extra)`` adds the ``extra`` keys to the model's input dict, e.g.
    ``video_id`` and ``frame_id`` for a video model (VPSNet carries state across the frames of a
    ``video_id``); models that do not read a key ignore it. ``image``, ``height`` and ``width``
    are the predictor's own and cannot be given.
    """

    OWN_KEYS = ("image", "height", "width")

    def __init__(self, cfg, model=None, backend="eager", exported=None, threads=None):
        self.cfg = cfg.clone()
        if model is None:
            model = build_model(self.cfg)
            if not cfg.MODEL.WEIGHTS:
                logging.getLogger(__name__).warning(
                    "MODEL.WEIGHTS is empty: the Predictor runs a randomly initialised model "
                    "(set MODEL.WEIGHTS to a trained checkpoint)"
                )
            Checkpointer(model).load(cfg.MODEL.WEIGHTS)
        self.model = model.eval()
        self.backend = backend
        self.runner = (
            self.model
            if backend == "eager"
            else exported_model(self.cfg, self.model, backend, exported, threads)
        )
        self.metadata = MetadataCatalog.get(
            cfg.DATASETS.TEST[0] if cfg.DATASETS.TEST else "__unused"
        )
        self.aug = T.AugmentationList(build_test_augmentation(cfg))
        self.input_format = cfg.INPUT.FORMAT
        if self.input_format not in ("RGB", "BGR"):
            raise ValueError(f"INPUT.FORMAT={self.input_format!r}: Predictor supports RGB or BGR")

    def __call__(self, original_image, **extra):
        inputs = self.preprocess(original_image, **extra)
        with torch.no_grad():
            return self.runner([inputs])[0]

    def preprocess(self, original_image, **extra):
        """The model's input dict for ``original_image`` (what ``__call__`` runs the model on)."""
        clash = [k for k in self.OWN_KEYS if k in extra]
        if clash:
            raise ValueError(
                f"Predictor sets the model input keys {clash} itself: do not pass them as extras"
            )
        image = array_to_bgr(original_image)  # H×W×3 BGR; gray, BGRA, uint16 too; else raises
        if self.input_format == "RGB":
            image = convert_image_to_rgb(image, "BGR")
        height, width = image.shape[:2]
        aug_input = T.AugInput(image)
        self.aug(aug_input)
        tensor = torch.as_tensor(aug_input.image.astype("float32").transpose(2, 0, 1))
        return {"image": tensor, "height": height, "width": width, **extra}
