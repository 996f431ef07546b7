"""``asmnet import WORKSPACE.db DIR --format NAME [--split S]``: add a dataset, or a plain folder of images,
to a workspace.

A dataset's faces come with their ground truth; ``--format images`` adds the image files of a plain folder
(jpg, jpeg, png, bmp, webp, recursively) and pre-labels them: the face detector finds every face, the
model places the points (``asmnet.workspace_prelabel.prelabel_new_faces``; ``--no-prelabel`` skips this).
Images are deduplicated by content, so importing the same folder twice adds nothing the second time; an
interrupted import can simply be run again. An import that fails before adding anything leaves no new
workspace file behind.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

HELP = "import a dataset folder (images + ground truth) or a plain folder of images into a workspace file"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from datasets.formats import format_names
    from datasets.formats.plain_images import NAME as IMAGES

    parser.add_argument("workspace", metavar="WORKSPACE.db", help="workspace file (created when missing)")
    parser.add_argument("dataset_dir", metavar="DIR", help="the dataset folder, or a folder of images")
    parser.add_argument("--format", required=True, choices=format_names() + [IMAGES],
                        help=f"dataset format, or '{IMAGES}' for a plain folder of images (pre-labelled)")
    parser.add_argument("--split", default=None, help="import only this split (e.g. train, test); with "
                                                      f"--format {IMAGES}: the split recorded for the images")
    parser.add_argument("--author", default="import", help="author recorded on the ground truth (default: import)")
    parser.add_argument("--dataset", default=None, help="dataset label stored with the images (default: folder name)")
    parser.add_argument("--no-prelabel", action="store_true",
                        help=f"with --format {IMAGES}: only add the images (the app pre-labels them when opened)")
    parser.add_argument("--checkpoint", default=None,
                        help=f"with --format {IMAGES}: model to pre-label with (default: the workspace's latest, "
                             "else the shipped one)")
    parser.add_argument("--no-progress", action="store_true", help="no progress report")


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


def _remove_new_workspace(path: Path) -> None:
    """Delete a workspace file this command created (and its WAL / shared-memory files)."""
    for p in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        p.unlink(missing_ok=True)


def run(args: argparse.Namespace) -> int:
    from asmnet.progress import reporter
    from datasets.formats import read_dataset
    from datasets.formats.plain_images import NAME as IMAGES, find_images
    from datasets.store import Workspace

    folder = Path(args.dataset_dir)
    if args.format == IMAGES:
        try:
            find_images(folder)  # before any file is created
        except NotADirectoryError as exc:
            raise ValueError(str(exc)) from None
        ds = None
    else:
        ds = read_dataset(folder, args.format, split=args.split)
    path = Path(args.workspace)
    created = not path.exists()
    report = None
    try:
        with Workspace(path) as ws:
            progress, close = reporter("import", enabled=not args.no_progress)
            try:
                if ds is None:
                    report = ws.import_images(folder, dataset=args.dataset, split=args.split, progress=progress)
                else:
                    report = ws.import_dataset(ds, author=args.author, progress=progress, dataset=args.dataset)
            finally:
                close()
            print_report(report)
            if ds is None and not args.no_prelabel and report.image_ids:
                _prelabel(ws, report.image_ids, args)
    except BaseException:
        if created and (report is None or report.added == 0):  # nothing of value was written
            _remove_new_workspace(path)
        raise
    return 0


def _prelabel(ws, image_ids: list[int], args: argparse.Namespace) -> None:
    """Find and pre-label the faces of the imported images (those that have no prediction yet)."""
    from asmnet.progress import reporter
    from asmnet.workspace_prelabel import prelabel_new_faces, workspace_predictor

    predictor, model_id = workspace_predictor(ws, checkpoint=args.checkpoint)
    progress, close = reporter("pre-label", unit="face", enabled=not args.no_progress)
    try:
        rep = prelabel_new_faces(ws, predictor, model_id, image_ids=image_ids, progress=progress)
    finally:
        close()
    print(rep.summary())
    if rep.no_face:
        names = [ws.image(i).name for i in rep.no_face]
        print(f"no face found in {len(names)} image(s) (open them in the app to draw a box): "
              f"{', '.join(names[:10])}{' ...' if len(names) > 10 else ''}")
    for face_id, reason in rep.skipped[:10]:
        print(f"  not pre-labelled: face {face_id}: {reason}")
