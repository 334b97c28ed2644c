"""The ``ranksearch`` command's flags, help and examples: one argparse parser, which ``ranksearch.cli``
parses with and dispatches on (``args.command``). Nothing here runs a command."""

from __future__ import annotations

import argparse

from ranksearch import __version__

ENVIRONMENT = """environment variables:
  RANKSEARCH_DATASETS  where the tests look for the real datasets (default ../shared/datasets)
  RANKSEARCH_CACHE     decoded datasets, the default --data-dir (its datasets/) (default $XDG_CACHE_HOME/ranksearch or ~/.cache/ranksearch)
  OMP_NUM_THREADS      threads of a single training process (run/worker --jobs sets them per job)
  PGPASSWORD           the PostgreSQL password of a --storage URL without one (or ~/.pgpass)"""
EXIT_CODES = """exit codes: 0 done, 1 a failure while running (storage, training job, full disk), 2 usage error or
bad input, 130 interrupted (Ctrl-C), 143 terminated (SIGTERM). Results go to stdout, progress to stderr."""


class _Parser(argparse.ArgumentParser):
    """argparse that reports a bad argument in one line (no usage dump) and exits 2."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


class _Help(argparse.RawDescriptionHelpFormatter):
    """Epilogs keep their line breaks (examples)."""


def _input_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--input", default="float", choices=("float", "uint8"),
                   help="what a network written as .onnx or .ts takes: float images normalised by the mean/std in its "
                        "metadata (default), or uint8 pixels 0-255, normalised inside the graph")


def _model_args(p: argparse.ArgumentParser, what: str, weights: str = "") -> None:
    p.add_argument("--model", help=f"a network: torchvision.models:resnet18, or path/to/file.py:ClassOrFunction; {what}")
    p.add_argument("--model-args", help='its arguments as JSON, e.g. \'{"width": 32}\' (num_classes is filled in from the data)')
    p.add_argument("--weights", help=f"its trained weights (a state_dict file, or a `ranksearch train --save` checkpoint){weights}")


def _data_args(p: argparse.ArgumentParser, defaults: dict) -> None:
    from ranksearch.config import PRECISIONS, RECIPE_NAMES

    p.add_argument("--dataset", help="mnist, fashion-mnist, cifar10, cifar100, or a folder with train/ and test/ class folders")
    p.add_argument("--data-dir", help="folder holding the datasets in torchvision's layout (default: $RANKSEARCH_CACHE/datasets)")
    p.add_argument("--train-subset", type=int, help="train on a stratified subset of N images (default: all)")
    p.add_argument("--val-fraction", type=float, help=f"share of the training set held out for validation (default {defaults['val_fraction']})")
    p.add_argument("--epochs", type=int, help="epochs per network (default: the recipe's, 10 for fast)")
    p.add_argument("--recipe", choices=RECIPE_NAMES, help="training recipe (default fast)")
    p.add_argument("--precision", choices=PRECISIONS, help="bf16 autocast or fp32 (default: bf16 where the hardware computes it natively)")
    p.add_argument("--seed", type=int, help="seed of initialisation, data order and sampler (default 0)")
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"), help="where to train (default auto: cuda when present)")


def build_parser() -> argparse.ArgumentParser:
    from lightlayers import REFERENCE_DATASETS, family_names
    from ranksearch.api import setting_defaults
    from ranksearch.config import NETWORK_BASELINES
    from ranksearch.objectives import objective_names
    from ranksearch.pruners import PRUNERS
    from ranksearch.samplers import SAMPLERS
    from ranksearch.space import spaces

    D = setting_defaults()

    parser = _Parser(prog="ranksearch", description="Search how much rank each layer of a CNN really needs.",
                     epilog=f"{EXIT_CODES}\n\n{ENVIRONMENT}", formatter_class=_Help)
    parser.add_argument("--version", action="version", version=f"ranksearch {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser, metavar="COMMAND")
    conv_families = family_names("conv")

    p = sub.add_parser("summary", help="per-layer parameters and FLOPs of a reference network", formatter_class=_Help,
                       epilog="examples:\n  ranksearch summary --dataset cifar10 --family light --rank 3\n"
                              "  ranksearch summary --dataset mnist --family separable --json\n"
                              "  ranksearch summary --dataset cifar10 --model torchvision.models:resnet18")
    p.add_argument("--dataset", required=True, choices=tuple(REFERENCE_DATASETS), help="the paper's network for this dataset (or the image shape for --model)")
    p.add_argument("--family", choices=conv_families, help="layer family in every convolution")
    p.add_argument("--rank", type=int, help="rank of every factorised layer (light, decef; none for conv, separable)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    _model_args(p, "list its replaceable layers and their rank ranges instead")

    p = sub.add_parser("train", help="train one configuration (a reference network or an exported point)", formatter_class=_Help,
                       epilog="examples:\n  ranksearch train --config point.json --epochs 30 --save point.pt\n"
                              "  ranksearch train --dataset fashion-mnist --data-dir ../shared/datasets --family light --rank 3\n"
                              f"\n{ENVIRONMENT}")
    p.add_argument("--config", help="point configuration JSON, e.g. from `ranksearch export`; flags override it")
    _data_args(p, D)
    p.add_argument("--family", choices=conv_families, help="train the paper's network of this family instead of --config's model")
    p.add_argument("--rank", type=int, help="rank for --family light or decef")
    _model_args(p, "train this network unmodified (e.g. to get weights for `run --weights`)",
                "; with a --config of your own network, where its trained base network is now")
    p.add_argument("--threads", type=int, help="CPU threads to train with (default: the configuration's, else every core); "
                                               "a search point's figures reproduce with the thread count it trained with")
    p.add_argument("--save", help="write the trained network here, as its suffix says: .onnx ONNX, .ts TorchScript, "
                                  ".json the configuration, else (.pt) weights, configuration and preprocessing "
                                  "(ranksearch.load_model reads it)")
    _input_arg(p)
    p.add_argument("--json", action="store_true", help="print one JSON object (accuracies, parameters, seconds) on stdout")

    p = sub.add_parser("run", help="search per-layer ranks with an Optuna study", formatter_class=_Help,
                       epilog="examples:\n  ranksearch run --dataset cifar10 --data-dir ../shared/datasets --budget 50\n"
                              "  ranksearch run --dataset fashion-mnist --data-dir ../shared/datasets --budget 50 --epochs 5 --family decef\n"
                              "  ranksearch run --config studies/fashion-mnist-light/config.json\n"
                              "  ranksearch run --dataset cifar10 --budget 200 --storage postgresql://user@host/db --study c10\n"
                              f"\nRerunning the same command continues the study; Ctrl-C is safe.\n\n{EXIT_CODES}\n\n{ENVIRONMENT}")
    p.add_argument("--config", help="a search configuration (a run's config.json or a study file in studies/); flags override it")
    _data_args(p, D)
    p.add_argument("--budget", type=int, help="finished candidates in total, complete or pruned (required without --config)")
    p.add_argument("--family", help=f"the search space: {', '.join(spaces())} (default {D['family']})")
    p.add_argument("--objectives", help=f"minimised beside validation accuracy: params, optionally with "
                                        f"{' and '.join(o for o in objective_names() if o != 'params')}, comma-separated; latency:eager and "
                                        f"latency:onnx name the latencies by runtime (default {D['objectives']})")
    p.add_argument("--sampler", help=f"NAME or NAME:key=value,...: {SAMPLERS.help()} (default {D['sampler']})")
    p.add_argument("--pruner", help=f"NAME or NAME:key=value,...: {PRUNERS.help()} (default {D['pruner']})")
    p.add_argument("--start", choices=("parent", "scratch"),
                   help="parent: train the dense network once, then every candidate inherits its weights (factorised "
                        "layer by layer) and fine-tunes; scratch: every network trains from scratch (default parent)")
    p.add_argument("--finetune-epochs", type=int, help="epochs a candidate fine-tunes under --start parent "
                                                         "(default: a third of --epochs, at least 1)")
    p.add_argument("--baselines", help=f"networks a user could take without the search, trained the fair way: conv, "
                                       f"separable, or either at a width multiplier (conv@0.5) (default {D['baselines']}; "
                                       f"{','.join(NETWORK_BASELINES)} for --model)")
    p.add_argument("--confirm-seeds", type=int, help=f"after the search, train the networks the verdict names again with "
                                                        f"this many more seeds; 0 turns it off (default {D['confirm_seeds']})")
    p.add_argument("--warm-start", action=argparse.BooleanOptionalAction, default=None,
                   help="queue candidates read off the trained dense network's effective ranks (default: on)")
    p.add_argument("--warm-shares", help=f"warm starts allocated at these shares of the trained network's parameters, in this order (default {D['warm_shares']})")
    p.add_argument("--jobs", default="auto", help="training processes on this machine, each with its share of the cores (default auto: one per core)")
    p.add_argument("--out", help="run folder (default runs/<study name>)")
    p.add_argument("--storage", help="Optuna storage URL shared by several processes or machines (default: study.db in the run "
                                     "folder); a password is best given by PGPASSWORD or ~/.pgpass, and is never stored")
    p.add_argument("--study", help="study name (default <dataset>-<family>)")
    p.add_argument("--timeout", type=float, help="stop starting new candidates after S seconds (default: none)")
    _model_args(p, "search the layers of this network instead of the paper's reference network")

    p = sub.add_parser("worker", help="join a running study and train until its budget is reached", formatter_class=_Help,
                       epilog="example:\n  ranksearch worker --storage postgresql://user@host/db --study c10 --jobs 4\n"
                              f"\n{EXIT_CODES}\n\n{ENVIRONMENT}")
    p.add_argument("--storage", required=True, help="the storage URL the run used")
    p.add_argument("--study", required=True, help="the study name the run used")
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"), help="where to train (default auto)")
    p.add_argument("--data-dir", help="where this machine keeps the datasets (default: the run's)")
    p.add_argument("--jobs", default="auto", help="training processes on this machine (default auto: one per core)")

    p = sub.add_parser("report", help="write report.html (Pareto plots and a verdict) for a run", formatter_class=_Help,
                       epilog="examples:\n  ranksearch report runs/cifar10-all\n"
                              "  ranksearch report --storage postgresql://user@host/db --study c10 --out c10-report")
    p.add_argument("run_dir", nargs="?", help="a run folder written by `ranksearch run` (only report.html and summary.json, the verdict, are written into it)")
    p.add_argument("--storage", help="read the study from this storage URL instead of a run folder")
    p.add_argument("--study", help="the study name, with --storage")
    p.add_argument("--out", help="folder to write the report (and, for a study read by URL, its CSV and JSON) to (default: RUN_DIR)")

    p = sub.add_parser("export", help="write a chosen point's configuration, or the trained network (ONNX, TorchScript, checkpoint)",
                       formatter_class=_Help,
                       epilog="examples:\n  ranksearch export runs/cifar10-all --max-params 20000 -o point.json\n"
                              "  ranksearch export runs/cifar10-all --take -o point.json\n"
                              "then: ranksearch train --config point.json --epochs 30\n"
                              "the trained network as a file (trained first unless the run folder kept its weights):\n"
                              "  ranksearch export runs/cifar10-all --max-params 20000 -o model.onnx\n"
                              "  ranksearch export runs/cifar10-all --trial 17 --format torchscript -o model.ts")
    p.add_argument("run_dir", help="a run folder written by `ranksearch run`")
    p.add_argument("--trial", type=int, help="the candidate with this trial number (trials.csv's number column)")
    p.add_argument("--max-params", type=int, help="the most accurate front member with at most this many trainable parameters "
                   "(a baseline more accurate within them is named)")
    p.add_argument("--max-flops", type=int, help="and at most this many FLOPs (with --max-params)")
    p.add_argument("--take", action="store_true", help="exactly the network the verdict takes (summary.json's take)")
    p.add_argument("--baseline", help="a baseline by name (conv, separable, conv@0.5, ...), or parent")
    p.add_argument("-o", "--output", required=True, help="the file to write")
    p.add_argument("--format", choices=("config", "onnx", "torchscript", "checkpoint"),
                   help="config: the configuration JSON (nothing trains); onnx, torchscript, checkpoint: the trained network, "
                        "trained first with its recorded configuration unless the run folder kept its weights "
                        "(default: from -o's suffix, .onnx or .ts, else config)")
    _input_arg(p)
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"), help="where to train it (default auto)")
    for command in sub.choices.values():  # an unknown argument is the command's error, said with its --help
        command.set_defaults(command_parser=command)
    return parser
