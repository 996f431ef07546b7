"""``asmnet export WORKSPACE.db OUT_DIR --format NAME [--status done,reviewed]``: write a dataset.

Each image's accepted version is written (its latest correction if any, else its ground truth),
with its split. Images whose file is missing are left out and listed. No torch here.
"""
from __future__ import annotations

import argparse

HELP = "export the accepted annotations of a workspace as a dataset folder"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from asmnet_studio.datasets.formats import format_names
    from asmnet_studio.datasets.store import STATUSES

    parser.add_argument("workspace", metavar="WORKSPACE.db", help="an existing workspace file")
    parser.add_argument("out_dir", metavar="OUT_DIR", help="folder to write (created when missing)")
    parser.add_argument("--format", required=True, choices=format_names(), help="dataset format")
    parser.add_argument("--status", default=None,
                        help=f"comma-separated statuses to export, from {','.join(STATUSES)} (default: all)")
    parser.add_argument("--schema", default=None, help="landmark schema, when the workspace holds several")


def run(args: argparse.Namespace) -> int:
    from asmnet_studio.datasets.store import Workspace

    with Workspace(args.workspace, create=False) as ws:
        gone = ws.missing_files(statuses=args.status, schema=args.schema)
        n = sum(1 for _, a in ws.accepted(statuses=args.status) if args.schema in (None, a.schema)) - len(gone)
        path = ws.export_dataset(args.out_dir, args.format, statuses=args.status, schema=args.schema)
    print(f"exported {n} image(s) to {path}")
    if gone:
        names = [r.name for r in gone]
        print(f"not exported: {len(names)} image(s) whose file is missing (remove them with `asmnet remove "
              f"{args.workspace} --missing`): {', '.join(names[:20])}{' ...' if len(names) > 20 else ''}")
    return 0
