"""Run directly (python -m tinygrad_bn.experiments.X or examples/X.py), every experiment checks its --out
folder before it loads data or trains: an unwritable folder never costs a run."""
from __future__ import annotations

import importlib

import pytest

from tinygrad_bn.serialization import OutputDirError


@pytest.mark.parametrize("name", ["weight_scale", "depth", "adam", "placement"])
def test_unwritable_out_fails_before_any_work(name, tmp_path, monkeypatch):
    module = importlib.import_module(f"tinygrad_bn.experiments.{name}")

    def no_data(*args, **kwargs):
        raise AssertionError("data was loaded before the output folder was checked")

    monkeypatch.setattr(module, "load_dataset", no_data, raising=False)
    blocker = tmp_path / "a-file"
    blocker.write_text("in the way")
    with pytest.raises(OutputDirError, match="--out folder"):
        module.main(["--quick", "--dataset", "digits", "--out", str(blocker / "results")])
