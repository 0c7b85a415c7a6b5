"""Training/inference engine: ``Trainer`` (DefaultTrainer subclass), ``Predictor``, hooks."""

from ..layers.modes import buffers_restored, training_mode  # noqa: F401
from .defaults import check_dataset_names, check_datasets, default_cfg, setup_cfg  # noqa: F401
from .gan_trainer import TwoPlayerTrainer, trainer_class  # noqa: F401
from .hooks import ValidationLossHook  # noqa: F401
from .predictor import Predictor  # noqa: F401
from .trainer import Trainer  # noqa: F401
