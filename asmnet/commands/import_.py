"""``asmnet import WORKSPACE.db DATASET_DIR --format NAME [--split S]``: add a dataset to a workspace.

Images are deduplicated by content, so importing the same folder twice adds nothing the second time;
an interrupted import can simply be run again. No torch here.
"""
from __future__ import annotations

import argparse
import sys

HELP = "import a dataset folder (images + ground truth) into a workspace file"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from datasets.formats import format_names

    parser.add_argument("workspace", metavar="WORKSPACE.db", help="workspace file (created when missing)")
    parser.add_argument("dataset_dir", metavar="DATASET_DIR", help="the dataset folder")
    parser.add_argument("--format", required=True, choices=format_names(), help="dataset format")
    parser.add_argument("--split", default=None, help="import only this split (e.g. train, test)")
    parser.add_argument("--author", default="import", help="author recorded on the ground truth (default: import)")
    parser.add_argument("--dataset", default=None, help="dataset label stored with the images (default: folder name)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def _progress_bar(enabled: bool):
    """(callback(done, total), close) driving a tqdm bar on stderr."""
    if not enabled:
        return None, lambda: None
    from tqdm import tqdm

    bar = tqdm(total=0, unit="img", desc="import", file=sys.stderr, leave=False)

    def update(done: int, total: int) -> None:
        bar.total = total
        bar.update(done - bar.n)

    return update, bar.close


def print_report(report, out=None, limit: int = 20) -> None:
    """The import summary, then each skipped sample and reader problem with its reason (to ``out``,
    default stdout)."""
    out = out or sys.stdout
    print(report.summary(), file=out)
    for title, items in (("skipped", report.skipped), ("reader problems", report.problems)):
        if not items:
            continue
        print(f"{title}:", file=out)
        for p in items[:limit]:
            print(f"  {p}", file=out)
        if len(items) > limit:
            print(f"  ... and {len(items) - limit} more", file=out)


def run(args: argparse.Namespace) -> int:
    from datasets.formats import read_dataset
    from datasets.store import Workspace

    ds = read_dataset(args.dataset_dir, args.format, split=args.split)
    progress, close = _progress_bar(not args.no_progress)
    with Workspace(args.workspace) as ws:
        try:
            report = ws.import_dataset(ds, author=args.author, progress=progress, dataset=args.dataset)
        finally:
            close()
    print_report(report)
    return 0
