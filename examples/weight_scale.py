"""Experiment 1: the weight-scale sweep (Deep Learning from Scratch, ch. 6).

Run it:   python examples/weight_scale.py [--quick] [--dataset auto|mnist|fashion-mnist|digits] [--data-dir DIR]
                                  [--seed N] [--seeds N] [--jobs N] [--out DIR]
Same as:  python -m tinygrad_bn experiment weight-scale ...

The experiment itself lives in tinygrad_bn/experiments/weight_scale.py, where its model, training loop and
figures are written out; docs/experiments.md shows the committed results beside the published ones.
"""
from tinygrad_bn.experiments import weight_scale

if __name__ == "__main__":
    raise SystemExit(weight_scale.main())
