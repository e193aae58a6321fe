"""The command line, `python -m tinygrad_bn <command>`: a thin layer over the package's functions.

Every user mistake ends as a one-line usage error (exit status 2) before any work starts: option values
are checked by the types of `cli_types`, output folders by `serialization.ensure_writable_dir`, and
missing or corrupt data files are reported with the options that fix them (`--download`, `--data-dir`).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from .cli_types import nonnegative_int, positive_int

# command-line name -> (module of tinygrad_bn.experiments, one-line description for `experiment --help`)
EXPERIMENTS = {
    "weight-scale": ("weight_scale", "does training depend on the initial weights' scale, with and without BN?"),
    "depth": ("depth", "deep sigmoid networks that do not learn, and learn with BN"),
    "adam": ("adam", "does BN help a small MLP trained with Adam? (with a PyTorch twin)"),
    "placement": ("placement", "where should the normalization go: before or after the activation?"),
    "cnn": ("cnn", "batch norm in a small convolutional network, at 1x, 5x and 30x the learning rate"),
}


class CommandParser(argparse.ArgumentParser):
    """The top-level parser; it remembers each command's parser, so that a mistake found after parsing
    (an unwritable folder, missing data files) is reported as that command's usage error."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:  # argparse.ArgumentParser's own arguments
        super().__init__(*args, **kwargs)
        self.commands: dict[str, argparse.ArgumentParser] = {}


def build_parser() -> CommandParser:
    """The parser of `python -m tinygrad_bn`, one sub-parser per command."""
    parser = CommandParser(prog="python -m tinygrad_bn", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)

    def command(name: str, help: str, **kwargs: Any) -> argparse.ArgumentParser:  # noqa: A002
        parser.commands[name] = commands.add_parser(name, help=help, **kwargs)
        return parser.commands[name]

    demo = command("demo", "the showcase: BN's effect on a deep net, its graph, its gradient")
    demo.add_argument("--out", default="tinygrad_bn-demo", help="output folder (default: ./tinygrad_bn-demo)")
    demo.add_argument("--epochs", type=positive_int, default=None)
    demo.add_argument("--seed", type=nonnegative_int, default=0)
    listing = "\n".join(f"  {name:13} {description}" for name, (_, description) in EXPERIMENTS.items())
    experiment = command("experiment", "rerun an experiment of the source material",
                         description="Rerun an experiment of the source material and write its JSON results, "
                                     "figures and markdown table.",
                         epilog=f"experiments:\n{listing}\n\n`python -m tinygrad_bn experiment NAME --help` "
                                "lists an experiment's own options (--quick, --dataset, --jobs, --out, ...).",
                         formatter_class=argparse.RawDescriptionHelpFormatter)
    experiment.add_argument("name", nargs="?", choices=list(EXPERIMENTS), metavar="NAME",
                            help=f"one of {', '.join(EXPERIMENTS)}")
    experiment.add_argument("options", nargs=argparse.REMAINDER, help="the experiment's own options (NAME --help)")
    graph = command("graph", "draw the computation graph of a built-in example")
    graph.add_argument("--model", choices=["bn1d", "bn2d", "layernorm", "mlp", "cnn"], default="bn1d")
    mode = graph.add_mutually_exclusive_group()
    mode.add_argument("--train", dest="train", action="store_true", default=True, help="training mode (default)")
    mode.add_argument("--eval", dest="train", action="store_false", help="evaluation mode (running statistics)")
    graph.add_argument("--backward", action="store_true", help="draw the gradient graph as operations")
    graph.add_argument("--values", action="store_true", help="show mean/std/min/max of every tensor")
    graph.add_argument("--collapse", action="store_true", help="draw each module as one node")
    graph.add_argument("-o", "--output", help="file to write: .svg, .png, .pdf, .dot or .gv")
    graph.add_argument("--html", metavar="FILE", help="write the interactive explorer: one self-contained page "
                                                      "(values, gradients, collapsible modules)")
    graph.add_argument("--view", choices=["forward", "backward", "both"], default=None,
                       help="the explorer's first view (default: both, or backward with --backward)")
    graph.add_argument("--depth", type=nonnegative_int, default=None,
                       help="the explorer starts with every module nested deeper than this collapsed")
    watch = command("watch", "the page of a watched training run: per-layer histograms, a slider over epochs",
                    description="Write the page of a run recorded with `train --watch DIR` or fit(..., watch=DIR): "
                                "one row per layer, histograms of activations and gradients, a slider over epochs.")
    watch.add_argument("directory", metavar="DIR", help="the folder holding watch.json")
    watch.add_argument("-o", "--output", default=None, help="the page to write (default: DIR/watch.html)")
    from .search.cli import add_report_arguments, add_search_arguments
    from .train.cli import add_arguments as add_train_arguments

    add_train_arguments(command("train", "train an MLP on a real dataset and write its history and plot"))
    add_search_arguments(command("search", "random hyperparameter search for an MLP, coarse to fine"))
    add_report_arguments(command("search-report", "table of the best trials of a log, and a plot"))
    return parser


def graph_command(args: argparse.Namespace) -> int:
    """Draw one of the built-in examples and write it where -o says, and/or its explorer where --html says."""
    from .experiments.graph_models import build
    from .viz import draw_graph, explore, render
    from .viz.render import RENDERED, SOURCE, GraphvizNotFoundError

    if args.output is not None:
        suffix = Path(args.output).suffix.lstrip(".").lower()
        if suffix not in RENDERED + SOURCE:  # checked before the drawing, so a typo costs nothing
            print(f"graph: cannot tell the format of {args.output!r} from its suffix; "
                  f"end it in one of .{', .'.join(RENDERED + SOURCE)}", file=sys.stderr)
            return 2
    output, module = build(args.model, train=args.train)
    written = []
    try:
        if args.output is not None:
            graph = draw_graph(output, params=module, show_values=args.values, collapse_modules=args.collapse,
                               backward=args.backward)
            written.append(render(graph, args.output))
        if args.html is not None:
            depth = args.depth if args.depth is not None else (1 if args.collapse else None)
            explorer = explore(output, params=module, view=args.view or ("backward" if args.backward else None),
                               depth=depth, title=f"tinygrad_bn graph: {args.model}, "
                                                  f"{'training' if args.train else 'evaluation'} mode")
            written.append(explorer.save(args.html))
    except GraphvizNotFoundError as err:
        print(err, file=sys.stderr)
        return 1
    for path in written:
        print(f"wrote {path.resolve()}")
    return 0


def watch_command(args: argparse.Namespace, command: argparse.ArgumentParser) -> int:
    """Write the page of a watched run (a folder without watch data is a usage error)."""
    from .train.watch import WatchDataError
    from .viz.watch_page import write_watch_page

    try:
        path = write_watch_page(args.directory, args.output)
    except WatchDataError as err:
        command.error(str(err))
    print(f"wrote {path.resolve()}")
    return 0


def check_output(command: argparse.ArgumentParser, folder: str | Path, option: str) -> None:
    """Exit with `command`'s usage error unless files can be written in `folder` (created if needed)."""
    from .serialization import OutputDirError, ensure_writable_dir

    try:
        ensure_writable_dir(folder, what=f"{option} folder")
    except OutputDirError as err:
        command.error(str(err))


def check_outputs(parser: CommandParser, args: argparse.Namespace) -> None:
    """Check, before any work, that every file the command will write can be written."""
    command = parser.commands[args.command]
    if args.command in ("demo", "train"):
        check_output(command, args.out, "--out")
    if args.command == "train" and args.checkpoint is not None:
        check_output(command, Path(args.checkpoint).parent, "--checkpoint")
    if args.command == "train" and args.watch is not None:
        check_output(command, args.watch, "--watch")
    if args.command == "train" and args.watch_every is not None and args.watch is None:
        command.error("--watch-every needs --watch DIR (the folder to record into)")
    if args.command == "graph":
        if args.output is None and args.html is None:
            command.error("the following arguments are required: -o/--output (or --html FILE)")
        if args.html is None and (args.view is not None or args.depth is not None):
            command.error("--view and --depth set up the explorer: give --html FILE too")
        if args.output is not None:
            check_output(command, Path(args.output).parent, "-o")
        if args.html is not None:
            check_output(command, Path(args.html).parent, "--html")
    if args.command == "watch" and args.output is not None:
        check_output(command, Path(args.output).parent, "-o")
    if args.command == "search":
        check_output(command, Path(args.log).parent, "--log")
    if args.command == "search-report" and args.plot is not None:
        check_output(command, Path(args.plot).parent, "--plot")


def data_error_message(err: Exception, command: argparse.ArgumentParser) -> str:
    """One line for missing or corrupt data files, naming the options of `command` that fix them."""
    from .data import DatasetNotFoundError

    if not isinstance(err, DatasetNotFoundError):
        return " ".join(str(err).split())
    folder = "--data-dir DIR for a folder that holds the four IDX files"
    if any("--download" in action.option_strings for action in command._actions):
        return err.summary(fix=f"pass --download to fetch them (needs pooch and internet), or {folder}")
    dataset = err.dataset if err.dataset in ("mnist", "fashion-mnist") else "mnist"
    return err.summary(fix=f"pass {folder}, or fetch them into the cache once with "
                           f"`python -m tinygrad_bn train --dataset {dataset} --download --epochs 1`")


def experiment_command(parser: CommandParser, args: argparse.Namespace) -> int:
    """Check the experiment's options and output folder, then run it."""
    import importlib

    from .data import DatasetNotFoundError, IDXFormatError

    if args.name is None:
        parser.commands["experiment"].error(f"name an experiment: {', '.join(EXPERIMENTS)} (see --help)")
    module = importlib.import_module(f".experiments.{EXPERIMENTS[args.name][0]}", __package__)
    own_parser = module.build_parser()
    options = own_parser.parse_args(args.options)  # --help, and bad values, end here
    check_output(own_parser, options.out, "--out")
    try:
        status: int = module.main(args.options)  # every experiment's main returns an exit status
        return status
    except (DatasetNotFoundError, IDXFormatError) as err:
        own_parser.error(data_error_message(err, own_parser))
    return 2  # not reached: error() exits


def main(argv: list[str] | None = None) -> int:
    """Run `python -m tinygrad_bn` with `argv` (default: the process's arguments); return the exit status."""
    from .data import DatasetNotFoundError, DownloadError, IDXFormatError

    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "experiment":
        return experiment_command(parser, args)
    check_outputs(parser, args)
    try:
        if args.command == "demo":
            from .experiments import demo

            demo.run(args.out, **({"epochs": args.epochs} if args.epochs else {}), seed=args.seed)
        elif args.command == "graph":
            return graph_command(args)
        elif args.command == "watch":
            return watch_command(args, parser.commands["watch"])
        elif args.command in ("search", "search-report"):
            from .search.cli import report_command, search_command

            return search_command(args) if args.command == "search" else report_command(args)
        elif args.command == "train":
            from .train.cli import train_command

            return train_command(args)
    except (DatasetNotFoundError, IDXFormatError) as err:
        parser.commands[args.command].error(data_error_message(err, parser.commands[args.command]))
    except DownloadError as err:  # not a usage mistake: the network or the mirrors failed
        print(f"{args.command}: {'; '.join(line.strip() for line in str(err).splitlines())}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
