"""Experiment 3: a small network with Adam, with and without BN (and PyTorch from the same start).

Run it:   python examples/adam.py [--quick] [--dataset auto|mnist|fashion-mnist|digits] [--data-dir DIR]
                                  [--seed N] [--seeds N] [--jobs N] [--out DIR] [--dtype float32|float64] [--no-torch]
Same as:  python -m tinygrad_bn experiment adam ...

The experiment itself lives in tinygrad_bn/experiments/adam.py, where its model, training loop and
figures are written out; docs/experiments.md shows the committed results beside the published ones.
"""
from tinygrad_bn.experiments import adam

if __name__ == "__main__":
    raise SystemExit(adam.main())
