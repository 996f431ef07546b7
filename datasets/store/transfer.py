"""Import and export orchestration: a dataset (or a plain folder of images) into the workspace, and the
accepted annotations out through a format writer. Every face and its ground truth is one transaction, so an
interrupted import leaves a consistent workspace and a re-run completes it; names are checked by
``asmnet_studio.datasets.paths`` before anything is written.

``Transfer`` is mixed into ``Workspace`` (it uses its transactions, ``accepted`` and ``_insert_annotation``).
"""
from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from typing import Iterable

from asmnet_studio.datasets.errors import ImageError, UnsafePathError
from asmnet_studio.datasets.paths import relative_name, safe_join
from asmnet_studio.datasets.sample import Dataset, Problem, Sample
from asmnet_studio.datasets.store import codec
from asmnet_studio.datasets.store.checks import check_choice, check_text, inspect_image
from asmnet_studio.datasets.store.connection import insert_row
from asmnet_studio.datasets.store.records import STATUSES, Annotation, ImageRecord, ImportReport, ProgressCallback


class Transfer:
    """Import and export (mixed into ``Workspace``)."""

    def import_dataset(self, ds: Dataset, *, author: str = "import", progress: ProgressCallback | None = None,
                       status: str = "todo", dataset: str | None = None) -> ImportReport:
        """Add a dataset's faces and their ground truth (version 1, source ground_truth, ``status``).

        Every annotated face of a picture is kept: sample ``face`` k of an image becomes face k of that
        picture. Faces are identified by the content of their image and their index, so re-importing adds
        nothing twice. Each face and its
        annotation go in one transaction, so an interrupted import leaves a consistent workspace and a
        re-run completes it. Bad images (missing, empty, corrupt) and image paths that are absolute, contain
        ``..`` or lead through a symlink outside ``ds.root`` are skipped and reported by name, one by one.
        ``progress(done, total)`` is called after each sample. ``dataset`` names the images' dataset
        (default: the name of the dataset folder).
        """
        check_text(author, "author")
        check_choice(status, STATUSES, "status")
        root = Path(os.path.abspath(ds.root))
        report = ImportReport(problems=list(ds.problems))
        seen: set[tuple[str, int]] = set()
        label = dataset or root.name
        for n, sample in enumerate(ds.samples, start=1):
            file = _safe_file(root, sample.image, report)
            if file is not None:
                self._import_sample(ds, label, root, sample, file, author, status, seen, report)
            if progress is not None:
                progress(n, len(ds.samples))
        return report

    def import_images(self, root: str | Path, *, dataset: str | None = None, split: str | None = None,
                      progress: ProgressCallback | None = None) -> ImportReport:
        """Add every image file of a plain folder (``asmnet_studio.datasets.formats.plain_images.find_images``: jpg,
        jpeg, png, bmp, webp, recursively), each as face 0 of its picture with no box and no annotation
        (``asmnet.inference.workspace_prelabel.prelabel_new_faces`` then finds the faces).

        Images are deduplicated by content (a re-import adds nothing); each image is one transaction.
        Bad files (empty, corrupt, truncated, not an image, too large) are skipped and reported by name;
        other files are listed in ``problems`` as ignored; a file that leads outside ``root`` through a
        symlink is skipped and reported. ``progress(done, total)`` after each file.
        Raises FileNotFoundError / NotADirectoryError naming ``root`` before writing anything.
        """
        from asmnet_studio.datasets.formats.plain_images import find_images

        names, ignored = find_images(root)
        root = Path(os.path.abspath(root))
        report = ImportReport(problems=[Problem(str(root / n), f"{root / n}: not an image file name "
                                                "(.jpg .jpeg .png .bmp .webp); ignored") for n in ignored])
        label = dataset or root.name
        for n, name in enumerate(names, start=1):
            file = _safe_file(root, name, report)
            if file is not None:
                self._import_image(file, name, root, label, split, report)
            if progress is not None:
                progress(n, len(names))
        return report

    def _import_image(self, file: Path, name: str, root: Path, label: str, split: str | None,
                      report: ImportReport) -> None:
        """One file of ``import_images``: added (one transaction), found present, or skipped with its reason;
        a non-trivial EXIF orientation is flagged (never applied)."""
        from asmnet_studio.datasets.images import exif_orientation

        try:
            sha, width, height = inspect_image(file)
            orientation = exif_orientation(file)
            row = codec.image_row(file, sha, width, height, dataset=label, split=split, subset=None, tags=(),
                                  box=None, name=name, root=root)
        except (ImageError, ValueError) as exc:
            report.skipped.append(Problem(str(file), str(exc) if str(file) in str(exc) else f"{file}: {exc}"))
            return
        with self._write() as conn:
            got = conn.execute("SELECT id FROM images WHERE sha256 = ? ORDER BY face LIMIT 1", (sha,)).fetchone()
            image_id = int(got[0]) if got else insert_row(conn, "images", row)
        report.image_ids.append(image_id)
        if orientation != 1:
            report.flags.append(Problem(str(file), f"{file}: image has EXIF orientation {orientation}: not applied, "
                                                   "the points refer to the stored pixels"))
        if got:
            report.present += 1
        else:
            report.added += 1

    def _import_sample(self, ds: Dataset, label: str, root: Path, s: Sample, file: Path, author: str, status: str,
                       seen: set[str], report: ImportReport) -> None:
        key = relative_name(s.image, "image path", root).as_posix()  # as safe_join found the file
        if (key, s.face) in seen:
            report.skipped.append(Problem(str(file), f"{file}: face {s.face} appears twice in the dataset; "
                                                     "the second one is skipped"))
            return
        seen.add((key, s.face))
        try:
            sha, width, height = inspect_image(file)
            img = codec.image_row(file, sha, width, height, dataset=label, split=s.split, subset=s.subset,
                                  tags=(), box=s.box, name=key, root=root, face=s.face,
                                  box_source=None if s.box is None else "dataset")
            ann = codec.annotation_row(s.points, author=author, source="ground_truth", status=status,
                                       visibility=s.visibility, pose=s.pose, schema=s.schema or ds.schema,
                                       note=None)
        except (ImageError, ValueError) as exc:
            report.skipped.append(Problem(str(file), str(exc) if str(file) in str(exc) else f"{file}: {exc}"))
            return
        image_id, added = self._insert_imported(img, ann)
        report.image_ids.append(image_id)
        if added:
            report.added += 1
        else:
            report.present += 1

    def _insert_imported(self, img: dict, ann: dict) -> tuple[int, bool]:
        """One transaction: the face (unless this face of this content is present) and its version-1 ground
        truth (unless it has annotations). Returns (face id, whether anything was added)."""
        with self._write() as conn:
            image_id = self._imported_face(conn, img)
            if image_id is not None:
                if conn.execute("SELECT 1 FROM annotations WHERE image_id = ?", (image_id,)).fetchone():
                    return image_id, False
            else:
                top = conn.execute("SELECT MAX(face) FROM images WHERE sha256 = ?", (img["sha256"],)).fetchone()[0]
                image_id = insert_row(conn, "images", dict(img, face=0 if top is None else int(top) + 1))
            self._insert_annotation(conn, image_id, ann, None)
            return image_id, True

    @staticmethod
    def _imported_face(conn: sqlite3.Connection, img: dict) -> int | None:
        """The face an imported sample is: face ``img["face"]`` of the faces stored under the same content
        and name (300-W's ``x_1.jpg`` / ``x_2.jpg`` are one picture stored twice, each file with face 0: they
        become faces 0 and 1 of the picture); for a face 0 of a new name, a face of that content nobody
        annotated yet (e.g. an upload); else None (a new face)."""
        rows = conn.execute("SELECT id FROM images WHERE sha256 = ? AND name = ? ORDER BY face",
                            (img["sha256"], img["name"])).fetchall()
        if img["face"] < len(rows):
            return int(rows[img["face"]][0])
        if img["face"] == 0:
            row = conn.execute("SELECT id FROM images i WHERE sha256 = ? AND NOT EXISTS (SELECT 1 FROM annotations a "
                               "WHERE a.image_id = i.id) ORDER BY face LIMIT 1", (img["sha256"],)).fetchone()
            if row is not None:
                return int(row[0])
        return None

    def export_dataset(self, out_dir: str | Path, format: str, *, statuses: str | Iterable[str] | None = None,
                       schema: str | None = None) -> Path:
        """Write the accepted version of each image (see ``accepted``) with its split into ``out_dir``
        through ``asmnet_studio.datasets.formats.write_dataset``; returns what the writer returns.

        ``schema`` picks one landmark schema when the workspace holds several (ValueError otherwise).
        Images whose file is missing are left out (``missing_files`` lists them, for the caller to report);
        ValueError when that leaves nothing of a non-empty selection. Raises UnsafePathError when an image's
        name would be written outside ``out_dir`` (absolute, ``..`` or a symlink inside ``out_dir`` leading out).
        """
        from asmnet_studio.datasets.formats import get_format, write_dataset

        get_format(format)  # ValueError listing the formats, before any work
        pairs = self._one_schema(self.accepted(statuses=statuses), schema)
        present = [(img, a) for img, a in pairs if img.path.is_file()]
        if pairs and not present:
            raise ValueError(f"{self._where}: nothing to export: the image files of all {len(pairs)} selected "
                             "image(s) are missing")
        ds = self._export_dataset(present, format)
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        for s in ds.samples:
            safe_join(out_dir, s.image, "exported image name")
        return write_dataset(ds, out_dir, format)

    def missing_files(self, *, statuses: str | Iterable[str] | None = None,
                      schema: str | None = None) -> list[ImageRecord]:
        """The faces ``export_dataset`` would write (same ``statuses`` / ``schema``) whose image file is
        missing, in id order: the export leaves them out."""
        pairs = self.accepted(statuses=statuses)
        return [img for img, a in pairs if schema in (None, a.schema) and not img.path.is_file()]

    @staticmethod
    def _one_schema(pairs: list[tuple[ImageRecord, Annotation]], schema: str | None):
        if schema is not None:
            return [(i, a) for i, a in pairs if a.schema == schema]
        found = sorted({a.schema for _, a in pairs})
        if len(found) > 1:
            raise ValueError(f"the workspace holds several landmark schemas {found}; pass schema= one of them")
        return pairs

    def _export_dataset(self, pairs: list[tuple[ImageRecord, Annotation]], format: str) -> Dataset:
        """An in-memory Dataset of the accepted annotations; images named relative to one root."""
        roots = {img.root for img, _ in pairs}
        if len(roots) == 1 and None not in roots and all(img.name for img, _ in pairs):
            root = Path(roots.pop())
            names = [img.name for img, _ in pairs]
        else:
            root = Path(os.path.commonpath([str(img.path.parent) for img, _ in pairs])) if pairs else Path(".")
            names = [img.path.relative_to(root).as_posix() for img, _ in pairs]
        for name in names:
            relative_name(name, "image name", root)
        schema = pairs[0][1].schema if pairs else "ibug68"
        rank = self._face_ranks()
        samples = [Sample(image=name, points=a.points, schema=a.schema, visibility=a.visibility, pose=a.pose,
                          box=img.box, split=img.split, subset=img.subset, face=rank.get(img.id, 0),
                          source_file=f"{self._where}#image={img.id},version={a.version}")
                   for name, (img, a) in zip(names, pairs)]
        return Dataset(root=root, format=format, schema=schema, samples=samples)


def _safe_file(root: Path, name: str, report: ImportReport) -> Path | None:
    """``root / name`` when the name is safe (``asmnet_studio.datasets.paths.safe_join``: relative, no ``..``, no
    symlink leading out of ``root``); else None, the reason added to ``report.skipped`` (the import goes on)."""
    try:
        return safe_join(root, name, "image path")
    except UnsafePathError as exc:
        report.skipped.append(Problem(str(root / name), f"{exc}; skipped"))
        return None
