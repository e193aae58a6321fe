"""The command line, `python -m tinygrad_bn <command>`: a thin layer over the package's functions."""
from __future__ import annotations

import argparse
import sys

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
    demo.add_argument("--epochs", type=int, default=None)
    demo.add_argument("--seed", type=int, default=0)
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
    train = commands.add_parser("train", help="train an MLP on a real dataset and write its history and plot")
    train.add_argument("--dataset", choices=["digits", "mnist", "fashion-mnist"], default="digits")
    train.add_argument("--data-dir", default=None, help="folder with the IDX files (mnist, fashion-mnist)")
    train.add_argument("--hidden", default="100,100,100", help="hidden layer sizes, comma separated")
    train.add_argument("--batchnorm", action="store_true", help="BatchNorm1d before each activation")
    train.add_argument("--activation", choices=["relu", "sigmoid", "tanh"], default="relu")
    train.add_argument("--init", default="he", help="weight init: he, xavier, or a standard deviation")
    train.add_argument("--optimizer", choices=["sgd", "momentum", "adagrad", "rmsprop", "adam"], default="sgd")
    train.add_argument("--lr", type=float, default=0.01)
    train.add_argument("--epochs", type=int, default=10)
    train.add_argument("--batch-size", type=int, default=100)
    train.add_argument("--dropout", type=float, default=0.0)
    train.add_argument("--weight-decay", type=float, default=0.0)
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--out", default="tinygrad_bn-train", help="folder for history.json and curves.png")
    train.add_argument("--no-progress", action="store_true", help="no progress bars")
    search = commands.add_parser("search", help="random hyperparameter search for an MLP, coarse to fine")
    search.add_argument("--dataset", choices=["digits", "mnist", "fashion-mnist"], default="digits")
    search.add_argument("--data-dir", default=None)
    search.add_argument("--trials", type=int, default=20, help="trials per round")
    search.add_argument("--rounds", type=int, default=1, help="rounds; each after the first narrows the space")
    search.add_argument("--top-k", type=int, default=5, help="best trials a refined round narrows around")
    search.add_argument("--epochs", type=int, default=5)
    search.add_argument("--max-train", type=int, default=None, help="use only this many training examples")
    search.add_argument("--jobs", type=int, default=None, help="worker processes (default: number of cores)")
    search.add_argument("--seed", type=int, default=0)
    search.add_argument("--log", default="search.jsonl", help="JSON-lines log; rerunning resumes from it")
    search.add_argument("--no-progress", action="store_true")
    report = commands.add_parser("search-report", help="table of the best trials of a log, and a plot")
    report.add_argument("log")
    report.add_argument("--top", type=int, default=10)
    report.add_argument("--plot", default=None, help="PNG path (default: the log's name with .png)")
    return parser


def graph_command(args: argparse.Namespace) -> int:
    """Draw one of the built-in examples and write it where -o says."""
    from pathlib import Path

    from .viz import draw_graph, render
    from .viz.examples import build
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
