"""Training: the `fit` loop and `evaluate`, `History`, `EarlyStopping`, the `EWMA` running average, and
checkpoints that resume a run exactly."""
from .checkpoint import load_checkpoint, save_checkpoint
from .diagnosis import Diagnosis, diagnose
from .history import EWMA, History
from .loop import EarlyStopping, TrainingDivergedError, accuracy, evaluate, fit

__all__ = [
    "fit", "evaluate", "accuracy", "History", "EWMA", "EarlyStopping", "TrainingDivergedError",
    "save_checkpoint", "load_checkpoint", "diagnose", "Diagnosis",
]
