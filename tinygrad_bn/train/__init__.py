"""Training: one `TrainStep`, the `fit` loop built on it and `evaluate`, `History`, `EarlyStopping`, the `EWMA`
running average, and checkpoints that resume a run exactly."""
from .checkpoint import load_checkpoint, save_checkpoint
from .diagnosis import Diagnosis, diagnose
from .history import EWMA, History
from .loop import EarlyStopping, StepCallback, TrainingDivergedError, accuracy, evaluate, fit
from .step import TrainStep

__all__ = [
    "fit", "TrainStep", "StepCallback", "evaluate", "accuracy", "History", "EWMA", "EarlyStopping",
    "TrainingDivergedError", "save_checkpoint", "load_checkpoint", "diagnose", "Diagnosis",
]
