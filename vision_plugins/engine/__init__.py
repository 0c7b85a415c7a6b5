"""Training/inference engine: ``Trainer`` (DefaultTrainer subclass), ``Predictor``, hooks."""

from .defaults import check_dataset_names, check_datasets, default_cfg, setup_cfg  # noqa: F401
from .hooks import ValidationLossHook, buffers_restored, training_mode  # noqa: F401
from .predictor import Predictor  # noqa: F401
from .trainer import Trainer  # noqa: F401
