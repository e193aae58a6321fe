"""The command line, `python -m tinygrad_bn <command>`: a thin layer over the package's functions."""
from __future__ import annotations

import argparse
import sys

from .cli_types import nonnegative_int, positive_int

EXPERIMENTS = {
    "weight-scale": "weight_scale",
    "depth": "depth",
    "adam": "adam",
    "placement": "placement",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m tinygrad_bn", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser("demo", help="the showcase: BN's effect on a deep net, its graph, its gradient")
    demo.add_argument("--out", default="tinygrad_bn-demo", help="output folder (default: ./tinygrad_bn-demo)")
    demo.add_argument("--epochs", type=positive_int, default=None)
    demo.add_argument("--seed", type=nonnegative_int, default=0)
    experiment = commands.add_parser("experiment", help="rerun an experiment of the source material",
                                     add_help=False)
    experiment.add_argument("name", choices=sorted(EXPERIMENTS))
    experiment.add_argument("options", nargs=argparse.REMAINDER, help="the experiment's own options (--help)")
    graph = commands.add_parser("graph", help="draw the computation graph of a built-in example")
    graph.add_argument("--model", choices=["bn1d", "bn2d", "layernorm", "mlp"], default="bn1d")
    mode = graph.add_mutually_exclusive_group()
    mode.add_argument("--train", dest="train", action="store_true", default=True, help="training mode (default)")
    mode.add_argument("--eval", dest="train", action="store_false", help="evaluation mode (running statistics)")
    graph.add_argument("--backward", action="store_true", help="draw the gradient graph as operations")
    graph.add_argument("--values", action="store_true", help="show mean/std/min/max of every tensor")
    graph.add_argument("--collapse", action="store_true", help="draw each module as one node")
    graph.add_argument("-o", "--output", required=True, help="file to write: .svg, .png, .pdf, .dot or .gv")
    from .search.cli import add_report_arguments, add_search_arguments
    from .train.cli import add_arguments as add_train_arguments

    add_train_arguments(commands.add_parser("train", help="train an MLP on a real dataset and write its history "
                                                          "and plot"))
    add_search_arguments(commands.add_parser("search", help="random hyperparameter search for an MLP, "
                                                            "coarse to fine"))
    add_report_arguments(commands.add_parser("search-report", help="table of the best trials of a log, "
                                                                   "and a plot"))
    return parser


def graph_command(args: argparse.Namespace) -> int:
    """Draw one of the built-in examples and write it where -o says."""
    from pathlib import Path

    from .experiments.graph_models import build
    from .viz import draw_graph, render
    from .viz.render import RENDERED, SOURCE, GraphvizNotFoundError

    suffix = Path(args.output).suffix.lstrip(".").lower()
    if suffix not in RENDERED + SOURCE:  # checked before the drawing, so a typo costs nothing
        print(f"graph: cannot tell the format of {args.output!r} from its suffix; "
              f"end it in one of .{', .'.join(RENDERED + SOURCE)}", file=sys.stderr)
        return 2
    output, module = build(args.model, train=args.train)
    graph = draw_graph(output, params=module, show_values=args.values, collapse_modules=args.collapse,
                       backward=args.backward)
    try:
        path = render(graph, args.output)
    except GraphvizNotFoundError as err:
        print(err, file=sys.stderr)
        return 1
    print(f"wrote {path.resolve()}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "demo":
        from .experiments import demo

        demo.run(args.out, **({"epochs": args.epochs} if args.epochs else {}), seed=args.seed)
    elif args.command == "experiment":
        import importlib

        module = importlib.import_module(f".experiments.{EXPERIMENTS[args.name]}", __package__)
        return module.main(args.options)
    elif args.command == "graph":
        return graph_command(args)
    elif args.command in ("search", "search-report"):
        from .search.cli import report_command, search_command

        return search_command(args) if args.command == "search" else report_command(args)
    elif args.command == "train":
        from .train.cli import train_command

        return train_command(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
