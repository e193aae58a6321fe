"""Optimizers (SGD, AdaGrad, RMSprop, Adam, AdamW) and learning-rate schedules (`optim.lr_scheduler`)."""
from . import lr_scheduler
from .optimizer import SGD, AdaGrad, Adagrad, Adam, AdamW, Optimizer, RMSprop

__all__ = ["Optimizer", "SGD", "AdaGrad", "Adagrad", "RMSprop", "Adam", "AdamW", "lr_scheduler"]
