"""Checkpoints: everything needed to resume a run exactly, in one `.npz` file (no pickle, written atomically).

Arrays (model parameters and buffers, optimizer state, early stopping's best weights) are stored under
"/"-separated prefixed keys ("model/0.weight", "optimizer/3/exp_avg"); everything else (epoch, history,
hyperparameters, the random generator's state) as one JSON document in the entry "meta".
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from .. import random as tg_random
from ..nn.module import Module
from ..optim.optimizer import Optimizer
from ..serialization import load, save
from .history import History

FORMAT = "tinygrad_bn-checkpoint-1"


def _split_state(state: dict[str, Any], prefix: str, arrays: dict[str, np.ndarray]) -> dict[str, Any]:
    """Move the array values of a (nested) dict into `arrays` under prefixed keys; return the rest."""
    rest: dict[str, Any] = {}
    for key, value in state.items():
        if isinstance(value, np.ndarray):
            arrays[f"{prefix}{key}"] = value
        elif isinstance(value, dict):
            rest[key] = _split_state(value, f"{prefix}{key}/", arrays)
        else:
            rest[key] = list(value) if isinstance(value, tuple) else value
    return rest


def _join_state(rest: dict[str, Any], prefix: str, arrays: dict[str, np.ndarray]) -> dict[str, Any]:
    """Inverse of `_split_state`."""
    state: dict[str, Any] = {}
    for key, value in rest.items():
        state[key] = _join_state(value, f"{prefix}{key}/", arrays) if isinstance(value, dict) else value
    for key, arr in arrays.items():
        if key.startswith(prefix) and "/" not in key[len(prefix):]:
            state[key[len(prefix):]] = arr
    return state


def save_checkpoint(path: str | os.PathLike, model: Module, optimizer: Optimizer | None = None, epoch: int = 0,
                    history: History | None = None, scheduler: Any = None,
                    extra: dict[str, Any] | None = None) -> Path:
    """Write model, optimizer and scheduler state, the epoch count, the history and the RNG state."""
    arrays: dict[str, np.ndarray] = {f"model/{k}": v for k, v in model.state_dict().items()}
    meta: dict[str, Any] = {"format": FORMAT, "epoch": int(epoch),
                            "history": (history or History()).to_dict(),
                            "rng": tg_random.default_generator().bit_generator.state}
    if optimizer is not None:
        opt = optimizer.state_dict()
        per_param = {str(i): s for i, s in opt["state"].items()}
        meta["optimizer"] = {"param_groups": [{k: (list(v) if isinstance(v, tuple) else v) for k, v in g.items()}
                                              for g in opt["param_groups"]],
                             "state": _split_state(per_param, "optimizer/", arrays)}
    if scheduler is not None:
        meta["scheduler"] = scheduler.state_dict()
    extra_arrays: dict[str, np.ndarray] = {}
    if extra:
        meta["extra"] = _split_state(extra, "extra/", extra_arrays)
    arrays.update(extra_arrays)
    arrays["meta"] = np.array(json.dumps(meta))
    return save(arrays, path)


def load_checkpoint(path: str | os.PathLike, model: Module, optimizer: Optimizer | None = None,
                    scheduler: Any = None, restore_rng: bool = True) -> dict[str, Any]:
    """Load a checkpoint into `model` (and optimizer, scheduler); return {'epoch', 'history', 'extra'}."""
    arrays = load(path)
    if "meta" not in arrays:
        raise ValueError(f"load_checkpoint: {path} is not a tinygrad_bn checkpoint (no 'meta' entry)")
    meta = json.loads(str(arrays.pop("meta")))
    if meta.get("format") != FORMAT:
        raise ValueError(f"load_checkpoint: {path} has format {meta.get('format')!r}, expected {FORMAT!r}")
    model.load_state_dict({k[len("model/"):]: v for k, v in arrays.items() if k.startswith("model/")})
    if optimizer is not None:
        if "optimizer" not in meta:
            raise ValueError(f"load_checkpoint: {path} holds no optimizer state")
        groups = [{k: (tuple(v) if k == "betas" else v) for k, v in g.items()}
                  for g in meta["optimizer"]["param_groups"]]
        state = _join_state(meta["optimizer"]["state"], "optimizer/", arrays)
        optimizer.load_state_dict({"param_groups": groups, "state": state})
    if scheduler is not None and "scheduler" in meta:
        scheduler.load_state_dict(meta["scheduler"])
    if restore_rng:
        tg_random.default_generator().bit_generator.state = meta["rng"]
    extra = _join_state(meta.get("extra", {}), "extra/", arrays)
    return {"epoch": meta["epoch"], "history": History.from_dict(meta["history"]), "extra": extra}
