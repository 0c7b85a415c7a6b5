"""Evaluator dispatch by the dataset's ``evaluator_type`` (+ task metrics detectron2 lacks)."""

from .build import EVALUATOR_REGISTRY, build_evaluator, register_evaluator  # noqa: F401
from .coco import MaskScoreCOCOEvaluator  # noqa: F401
from .pckh import PCKhEvaluator, compute_pckh  # noqa: F401,E402
from .super_resolution import SREvaluator, add_sr_eval_config  # noqa: F401
from .translation import TranslationEvaluator, add_translation_eval_config  # noqa: F401
from .video_instances import VideoInstanceEvaluator  # noqa: F401
from .widerface import WiderFaceEvaluator, wider_ap  # noqa: F401,E402
