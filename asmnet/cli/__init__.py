"""The ``asmnet`` command: one sub-command per module of this package (``asmnet/cli``).

Each command module defines ``HELP: str``, ``add_arguments(parser)`` and ``run(args) -> int``.
Modules are imported only when their command runs, so ``asmnet import`` never loads torch.
"""
from __future__ import annotations

import argparse
import importlib
import sys

#: command name -> module path
COMMANDS: dict[str, str] = {
    "import": "asmnet.cli.import_",
    "export": "asmnet.cli.export",
    "train": "asmnet.cli.train",
    "predict": "asmnet.cli.predict",
    "evaluate": "asmnet.cli.evaluate",
    "prelabel": "asmnet.cli.prelabel",
    "runtime": "asmnet.cli.runtime",
    "remove": "asmnet.cli.remove",
}


def build_parser(argv: list[str]) -> tuple[argparse.ArgumentParser, object | None]:
    parser = argparse.ArgumentParser(prog="asmnet",
                                     description="ASMNet Studio: train, predict, evaluate, import, export")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    chosen = argv[0] if argv and argv[0] in COMMANDS else None
    module = None
    for name, mod_path in COMMANDS.items():
        if name == chosen:
            module = importlib.import_module(mod_path)
            p = sub.add_parser(name, help=module.HELP, description=module.HELP)
            module.add_arguments(p)
        else:
            sub.add_parser(name, help=f"see `asmnet {name} --help`", add_help=False)
    return parser, module


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser, module = build_parser(argv)
    args = parser.parse_args(argv)
    if module is None:
        parser.print_help()
        return 2
    from asmnet_studio.datasets.errors import DataError

    try:
        return int(module.run(args) or 0)
    except (DataError, ValueError, FileNotFoundError) as exc:
        print(f"asmnet {args.command}: error: {exc}", file=sys.stderr)
        return 1
