"""``asmnet import WORKSPACE.db DIR --format NAME [--split S] [--report FILE.csv]``: add a dataset, or a plain
folder of images, to a workspace.

A dataset's faces come with their ground truth; ``--format images`` adds the image files of a plain folder
(jpg, jpeg, png, bmp, webp, recursively) and pre-labels them: the face detector finds every face, the
model places the points (``asmnet.inference.workspace_prelabel.prelabel_new_faces``; ``--no-prelabel`` skips this).
Images are deduplicated by content, so importing the same folder twice adds nothing the second time; an
interrupted import can simply be run again. An import that fails before adding anything leaves no new
workspace file behind.

The terminal shows the first 20 skipped entries, reader problems and reader flags (kept as data, e.g. "image
has EXIF orientation 6", points outside the image); ``--report FILE.csv`` writes all of them.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

#: the full report's columns and writer (``--report FILE.csv``): the project's one problem-report format
from asmnet_studio.datasets.sample import REPORT_COLUMNS, write_report_csv

HELP = "import a dataset folder (images + ground truth) or a plain folder of images into a workspace file"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from asmnet_studio.datasets.formats import format_names
    from asmnet_studio.datasets.formats.plain_images import NAME as IMAGES

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
    parser.add_argument("--report", default=None, metavar="FILE.csv",
                        help="write the full report (every skipped entry, reader problem and reader flag) as CSV; "
                             "the terminal shows the first 20 of each")


def reader_flags(ds, report) -> list:
    """What the reader and the import flagged and kept as data ("image has EXIF orientation 6 ...", points
    outside the image ...) as ``Problem``s naming the image file: the Dataset's ``Sample.flags`` (``ds`` None
    for a plain folder of images) and the ImportReport's ``flags``."""
    from asmnet_studio.datasets.sample import Problem

    samples = [] if ds is None else ds.samples
    return [Problem(str(Path(ds.root) / s.image), flag) for s in samples for flag in s.flags] + list(report.flags)


def report_rows(report, flags=()) -> list[dict]:
    """Every entry of an import report as rows of ``REPORT_COLUMNS`` (kind: skipped, reader problem, flag)."""
    return [{"kind": kind, "file": p.path, "line": "" if p.line is None else p.line,
             "point": "" if p.point is None else p.point, "message": str(p)}
            for kind, items in (("skipped", report.skipped), ("reader problem", report.problems), ("flag", flags))
            for p in items]


def write_report(path: str | Path, report, flags=()) -> int:
    """Write the full report as CSV (UTF-8, ``REPORT_COLUMNS``) through a temporary file moved into place
    (``asmnet_studio.datasets.sample.write_report_csv``); returns the number of rows."""
    return write_report_csv(path, ([r[c] for c in REPORT_COLUMNS] for r in report_rows(report, flags)))


def print_report(report, out=None, limit: int = 20, flags=(), full: str | Path | None = None) -> None:
    """The import summary, then each skipped sample, reader problem and reader flag with its reason (to
    ``out``, default stdout), at most ``limit`` of each; ``full``: where the full report was written (said
    when a list is cut, else how to get it)."""
    out = out or sys.stdout
    print(report.summary() + (f", flagged {len(flags)}" if flags else ""), file=out)
    for title, items in (("skipped", report.skipped), ("reader problems", report.problems),
                         ("flags (imported as they are)", flags)):
        if not items:
            continue
        print(f"{title}:", file=out)
        for p in items[:limit]:
            print(f"  {p}", file=out)
        if len(items) > limit:
            where = f"all in {full}" if full else "all of them with --report FILE.csv"
            print(f"  ... and {len(items) - limit} more ({where})", file=out)
    if full:
        print(f"full report: {full}", file=out)


def _remove_new_workspace(path: Path) -> None:
    """Delete a workspace file this command created (and its WAL / shared-memory files)."""
    for p in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        p.unlink(missing_ok=True)


def run(args: argparse.Namespace) -> int:
    from asmnet.inference.progress import reporter
    from asmnet_studio.datasets.formats import read_dataset
    from asmnet_studio.datasets.formats.plain_images import NAME as IMAGES, find_images
    from asmnet_studio.datasets.store import Workspace

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
            flags = reader_flags(ds, report)
            if args.report:
                write_report(args.report, report, flags)
            print_report(report, flags=flags, full=args.report)
            if ds is None and not args.no_prelabel and report.image_ids:
                _prelabel_new_faces(ws, report.image_ids, args)
    except BaseException:
        if created and (report is None or report.added == 0):  # nothing of value was written
            _remove_new_workspace(path)
        raise
    return 0


def _prelabel_new_faces(ws, image_ids: list[int], args: argparse.Namespace) -> None:
    """Find and pre-label the faces of the imported images (those that have no prediction yet)."""
    from asmnet.inference.progress import reporter
    from asmnet.inference.workspace_prelabel import prelabel_new_faces, workspace_predictor

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
