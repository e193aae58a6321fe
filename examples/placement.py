"""Experiment 4: BN before vs after the activation, and BN vs LayerNorm.

Run it:   python examples/placement.py [--quick] [--dataset auto|mnist|fashion-mnist|digits] [--data-dir DIR]
                                  [--seed N] [--seeds N] [--jobs N] [--out DIR]
Same as:  python -m tinygrad_bn experiment placement ...

The experiment itself lives in tinygrad_bn/experiments/placement.py, where its model, training loop and
figures are written out; docs/experiments.md shows the committed results beside the published ones.
"""
from tinygrad_bn.experiments import placement

if __name__ == "__main__":
    raise SystemExit(placement.main())
