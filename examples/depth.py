"""Experiment 2: depth, activation and learning rate; deep sigmoid nets learn with BN.

Run it:   python examples/depth.py [--quick] [--dataset auto|mnist|fashion-mnist|digits] [--data-dir DIR]
                                  [--seed N] [--seeds N] [--jobs N] [--out DIR]
Same as:  python -m tinygrad_bn experiment depth ...

The experiment itself lives in tinygrad_bn/experiments/depth.py, where its model, training loop and
figures are written out; docs/experiments.md shows the committed results beside the published ones.
"""
from tinygrad_bn.experiments import depth

if __name__ == "__main__":
    raise SystemExit(depth.main())
