"""MLPObjective: it loads data through `tinygrad_bn.data` (never through a command-line module, so a worker
process that unpickles it imports no CLI), and describes everything that gives its trials their meaning."""
import json
import subprocess
import sys

import pytest

from tinygrad_bn.search.objectives import DEFAULTS, MLPObjective

CHECK = """
import json, sys
from tinygrad_bn.search.objectives import MLPObjective
objective = MLPObjective("digits", epochs=1, max_train=200)
{load}
print(json.dumps(sorted(m for m in sys.modules if m.startswith("tinygrad_bn"))))
"""


@pytest.mark.parametrize("load", ["", "objective.data(); objective({'hidden': 8})"])
def test_the_objective_imports_no_command_line_module(load):
    if load:
        pytest.importorskip("sklearn")
    out = subprocess.run([sys.executable, "-c", CHECK.format(load=load)], capture_output=True, text=True, timeout=120,
                         check=True).stdout
    modules = json.loads(out)
    assert "tinygrad_bn.search.objectives" in modules
    assert not [m for m in modules if m.rsplit(".", 1)[-1] in ("cli", "cli_types", "__main__")], modules
    if load:
        assert "tinygrad_bn.data" in modules and "tinygrad_bn.train" in modules


def test_describe_names_every_setting_but_the_data_folder():
    described = MLPObjective("mnist", epochs=3, data_dir="/data", seed=4, max_train=1000).describe()
    assert described == {"name": "tinygrad_bn.search.objectives.MLPObjective", "dataset": "mnist", "epochs": 3,
                         "max_train": 1000, "seed": 4, "defaults": DEFAULTS,
                         "split": {"fractions": [0.8, 0.2], "seed": 0, "stratify": True}}
    assert json.loads(json.dumps(described)) == described  # it goes in a JSON log as it is
    assert set(DEFAULTS) == {"lr", "momentum", "hidden", "layers", "activation", "dropout", "weight_decay",
                             "batchnorm", "batch_size"}
