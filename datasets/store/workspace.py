"""The workspace: one SQLite file (via sqlite-utils) holding images, annotations with full history,
predictions and model versions. This is the only module of the project that touches SQLite.

Tables (schema version ``SCHEMA_VERSION``, kept in ``PRAGMA user_version``; ``PRAGMA application_id``
marks the file as ours):

    images       one row per *face* of a picture: id (the face's id, which annotations and predictions
                 refer to), path (absolute), name (relative to root, forward slashes), root, sha256,
                 face (0, 1, ... within the picture; (sha256, face) unique), width, height (pixels), dataset,
                 split, subset, tags (JSON list), box (the face box), box_source (see BOX_SOURCES), added_at
    annotations  id, image_id, version (1, 2, ... per image, unique), author, created_at, source, status,
                 num_points, points, visibility, pose, schema, note, base_version
    models       id, name, checkpoint, sha256, card (JSON), created_at
    predictions  id, image_id, model_id, num_points, points, pose, confidence, box, uncertainty, created_at

A picture with several faces has several rows sharing path and sha256 (``faces_of``); each face has its
own box and its own annotation history. Schema version 3 introduced this; a version 2 file (one face per
picture) is migrated with every row becoming face 0 of its picture, nothing else changed.

Arrays are stored exactly as little-endian blobs: points/pose/box/confidence float32 (``<f4``),
visibility int8; a float32 array read back is bit-identical to the one saved. Times are ISO-8601 UTC.

Concurrency: the file is in WAL mode with a busy timeout, so concurrent readers never block and
concurrent writers wait for each other instead of failing. Every write is one ``BEGIN IMMEDIATE``
transaction: ``save_annotation`` checks the latest version and inserts the next one atomically across
processes, and refuses with ``ConflictError`` when the caller's ``base_version`` is stale.
One ``Workspace`` may be shared by threads (a lock serialises its use of the connection).
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import sqlite3
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Callable, Iterable, Iterator, Sequence

import numpy as np
import sqlite_utils

from datasets.errors import ConflictError, ImageError, StoreError, UnsafePathError
from datasets.sample import Dataset, Problem, Sample

#: Where an annotation came from.
SOURCES: tuple[str, ...] = ("ground_truth", "prediction", "correction")
#: Workflow state of an annotation (an image's status is its latest annotation's; "todo" when none).
STATUSES: tuple[str, ...] = ("todo", "in_progress", "done", "reviewed")
#: Sources an export may use: the latest correction of an image if any, else its latest ground truth.
ACCEPTED_SOURCES: tuple[str, ...] = ("correction", "ground_truth")
#: Where a face's box came from: the dataset, the face detector, a person, or "not_found" (the detector
#: ran and found no face: the box is empty and the face waits for a person to draw one).
BOX_SOURCES: tuple[str, ...] = ("dataset", "detector", "hand", "not_found")
#: ``PRAGMA application_id`` of a workspace file ("ASMN").
APPLICATION_ID = 0x41534D4E
#: Seconds a writer waits for another writer's transaction before giving up.
DEFAULT_TIMEOUT_S = 60.0

ProgressCallback = Callable[[int, int], None]


class NotFoundError(StoreError, KeyError):
    """An image, model or annotation id that is not in the workspace."""

    def __str__(self) -> str:  # KeyError would print the repr of the message
        return str(self.args[0]) if self.args else ""


# --------------------------------------------------------------------------------------------- records


@dataclass
class ImageRecord:
    """One image of the workspace.

    Attributes:
        id: workspace id.
        path: absolute path of the image file (the workspace references images, it does not copy them).
        sha256: hex digest of the file content (images are deduplicated by it).
        width, height: size in pixels.
        dataset, split, subset: where it came from (e.g. "aflw2000", "test", "challenging"), or None.
        tags: free labels.
        box: (4,) float32 x0, y0, x1, y1 face box in pixels, or None.
        name: path relative to ``root`` with forward slashes (the name an export writes it under).
        root: the folder ``name`` is relative to (the dataset root it was imported from).
        face: index of this face within its picture (0, 1, ...); the faces of one picture share path,
            sha256 and size (``Workspace.faces_of``).
        box_source: one of ``BOX_SOURCES`` or None (unknown: written before schema version 3).
    """

    id: int
    path: Path
    sha256: str
    width: int
    height: int
    dataset: str | None = None
    split: str | None = None
    subset: str | None = None
    tags: list[str] = field(default_factory=list)
    box: np.ndarray | None = None
    name: str = ""
    root: Path | None = None
    face: int = 0
    box_source: str | None = None


@dataclass
class Annotation:
    """One saved version of an image's landmarks (never updated; a new save is a new version).

    Attributes:
        id: row id.
        image_id: the image.
        version: 1, 2, ... per image, contiguous.
        author: who saved it.
        created_at: ISO-8601 UTC time of the save, e.g. "2026-11-24T14:15:26.123456+00:00".
        source: one of ``SOURCES``.
        status: one of ``STATUSES``.
        points: (K, 2) float32 x, y, 0-based pixels.
        visibility: (K,) int8 (2 visible / 1 occluded / 0 outside) or None (all visible).
        pose: (3,) float32 yaw, pitch, roll degrees, or None.
        schema: landmark schema name, e.g. "ibug68".
        note: free text or None.
        base_version: the version this save was based on (None for a first annotation).
    """

    id: int
    image_id: int
    version: int
    author: str
    created_at: str
    source: str
    status: str
    points: np.ndarray
    visibility: np.ndarray | None = None
    pose: np.ndarray | None = None
    schema: str = "ibug68"
    note: str | None = None
    base_version: int | None = None


@dataclass
class ModelRecord:
    """A registered model version: name, checkpoint path, its sha256, model card (dict), created_at (UTC)."""

    id: int
    name: str
    checkpoint: str
    sha256: str
    card: dict
    created_at: str


@dataclass
class PredictionRow:
    """A model's output for one image.

    Attributes:
        image_id, model_id: workspace ids.
        points: (K, 2) float32 x, y pixels.
        pose: (3,) float32 yaw, pitch, roll degrees, or None.
        confidence: (K,) float32 per-point confidence.
        box: (4,) float32 x0, y0, x1, y1 face box used, or None.
        uncertainty: face-level uncertainty (NaN when unknown).
        id, created_at: set by the store when read back.
    """

    image_id: int
    model_id: int
    points: np.ndarray
    pose: np.ndarray | None
    confidence: np.ndarray
    box: np.ndarray | None = None
    uncertainty: float = float("nan")
    id: int | None = None
    created_at: str | None = None


@dataclass
class ImportReport:
    """What ``Workspace.import_dataset`` did.

    Attributes:
        added: samples whose image and ground truth were added now.
        present: samples whose image (same content) was already in the workspace; nothing added.
        skipped: samples not imported (missing / empty / corrupt image ...), each naming the file and the
            reason.
        problems: what the dataset reader itself skipped (copied from ``Dataset.problems``).
        image_ids: the workspace (face) id of every added or present sample, in sample order.
    """

    added: int = 0
    present: int = 0
    skipped: list[Problem] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    image_ids: list[int] = field(default_factory=list)

    def summary(self) -> str:
        """One line: added / already present / skipped / reader problems."""
        return (f"added {self.added}, already present {self.present}, skipped {len(self.skipped)}"
                f", reader problems {len(self.problems)}")


# ------------------------------------------------------------------------------ encoding and checks


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")


def _f32_blob(a: np.ndarray | None) -> bytes | None:
    return None if a is None else np.ascontiguousarray(a, dtype="<f4").tobytes()


def _f32(blob: bytes | None, shape: tuple[int, ...]) -> np.ndarray | None:
    if blob is None:
        return None
    return np.frombuffer(blob, dtype="<f4").astype(np.float32).reshape(shape)


def _i8(blob: bytes | None) -> np.ndarray | None:
    return None if blob is None else np.frombuffer(blob, dtype="i1").astype(np.int8)


def _as_float32(value, what: str) -> np.ndarray:
    try:
        with np.errstate(over="ignore", invalid="ignore"):
            return np.asarray(value).astype(np.float32)
    except (TypeError, ValueError):
        raise ValueError(f"{what} must be numeric, found {type(value).__name__}") from None


def check_points(points, what: str = "points") -> np.ndarray:
    """``points`` as a (K, 2) float32 array; ValueError naming the first non-finite point index."""
    arr = _as_float32(points, what)
    if arr.ndim != 2 or arr.shape[1] != 2 or arr.shape[0] == 0:
        raise ValueError(f"{what} must have shape (K, 2) with K >= 1, found {arr.shape}")
    bad = np.flatnonzero(~np.isfinite(arr).all(axis=1))
    if bad.size:
        i = int(bad[0])
        raise ValueError(f"{what}: point {i} is not finite as float32: ({arr[i, 0]}, {arr[i, 1]})")
    return arr


def _check_vector(value, n: int, what: str) -> np.ndarray | None:
    """``value`` as a finite float32 (n,) array, or None."""
    if value is None:
        return None
    arr = _as_float32(value, what)
    if arr.shape != (n,):
        raise ValueError(f"{what} must have shape ({n},), found {arr.shape}")
    bad = np.flatnonzero(~np.isfinite(arr))
    if bad.size:
        raise ValueError(f"{what}: element {int(bad[0])} is not finite ({arr[bad[0]]})")
    return arr


def check_visibility(visibility, k: int) -> np.ndarray | None:
    """(K,) int8 with values 0 / 1 / 2, or None; ValueError naming the first bad point index."""
    if visibility is None:
        return None
    arr = np.asarray(visibility)
    if arr.shape != (k,):
        raise ValueError(f"visibility must have shape ({k},) to match the points, found {arr.shape}")
    bad = np.flatnonzero(~np.isin(arr, (0, 1, 2)))
    if bad.size:
        i = int(bad[0])
        raise ValueError(f"visibility of point {i} is {arr[i]!r}; valid values are 0 (outside), 1 (occluded), 2 (visible)")
    return arr.astype(np.int8)


def _check_choice(value, choices: Sequence[str], what: str) -> str:
    if value not in choices:
        raise ValueError(f"unknown {what} {value!r}; choose one of {list(choices)}")
    return value


def _check_statuses(statuses: str | Iterable[str] | None) -> tuple[str, ...] | None:
    if statuses is None:
        return None
    if isinstance(statuses, str):
        statuses = [s.strip() for s in statuses.split(",") if s.strip()]
    out = tuple(_check_choice(s, STATUSES, "status") for s in statuses)
    if not out:
        raise ValueError(f"no status given; choose from {list(STATUSES)}")
    return out


def _check_text(value, what: str, *, optional: bool = False) -> str | None:
    if value is None and optional:
        return None
    if not isinstance(value, str) or (not optional and not value.strip()):
        raise ValueError(f"{what} must be a non-empty string, found {value!r}")
    return value


def _check_schema(schema: str, k: int) -> str:
    """A schema name; when it is a registered schema, K must match its point count."""
    _check_text(schema, "schema")
    from datasets.schemas import SCHEMAS

    known = SCHEMAS.get(schema)
    if known is not None and known.num_points != k:
        raise ValueError(f"schema {schema!r} has {known.num_points} points, but {k} were given")
    return schema


def _check_int_id(value, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{what} must be an integer id, found {value!r}")
    return int(value)


# ---------------------------------------------------------------------------------- files and paths


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file's content."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def inspect_image(path: str | Path) -> tuple[str, int, int]:
    """(sha256, width, height) of an image file; ImageError naming the file when it is missing, empty,
    corrupt, truncated, not an image or too large (the whole image is decoded once to find out)."""
    from datasets.images import image_size, load_image

    load_image(path)
    width, height = image_size(path)
    return sha256_file(path), int(width), int(height)


def _relative_name(name: str, folder: Path, what: str) -> PurePosixPath:
    """``name`` as a safe relative path: not absolute, no drive, no ``..``; UnsafePathError otherwise."""
    text = str(name).replace("\\", "/")
    rel = PurePosixPath(text)
    if not text or rel.is_absolute() or PureWindowsPath(str(name)).drive or ".." in rel.parts:
        raise UnsafePathError(f"{folder}: {what} {name!r} is absolute or leaves the folder (..)")
    return rel


def safe_join(folder: str | Path, name: str, what: str = "path") -> Path:
    """``folder / name``, refusing (UnsafePathError) a name that is absolute, contains ``..`` or leads,
    through a symlink, outside ``folder``."""
    folder = Path(folder)
    rel = _relative_name(name, folder, what)
    joined = Path(os.path.abspath(folder / rel))
    real_folder = folder.resolve()
    real = joined.resolve()
    if real != real_folder and real_folder not in real.parents:
        raise UnsafePathError(f"{folder}: {what} {name!r} resolves to {real}, outside the folder (symlink)")
    return joined


# ---------------------------------------------------------------------------------------- migrations


def _migration_1(db: sqlite_utils.Database) -> None:
    """The first schema: images, annotations (no base_version yet), models, predictions."""
    db["images"].create(
        {"id": int, "path": str, "name": str, "root": str, "sha256": str, "width": int, "height": int,
         "dataset": str, "split": str, "subset": str, "tags": str, "box": bytes, "added_at": str},
        pk="id", not_null={"path", "name", "sha256", "width", "height", "tags", "added_at"})
    db["images"].create_index(["sha256"], unique=True)
    db["annotations"].create(
        {"id": int, "image_id": int, "version": int, "author": str, "created_at": str, "source": str,
         "status": str, "num_points": int, "points": bytes, "visibility": bytes, "pose": bytes,
         "schema": str, "note": str},
        pk="id", foreign_keys=[("image_id", "images", "id")],
        not_null={"image_id", "version", "author", "created_at", "source", "status", "num_points",
                  "points", "schema"})
    db["annotations"].create_index(["image_id", "version"], unique=True)
    db["models"].create(
        {"id": int, "name": str, "checkpoint": str, "sha256": str, "card": str, "created_at": str},
        pk="id", not_null={"name", "checkpoint", "sha256", "card", "created_at"})
    db["predictions"].create(
        {"id": int, "image_id": int, "model_id": int, "num_points": int, "points": bytes, "pose": bytes,
         "confidence": bytes, "box": bytes, "uncertainty": float, "created_at": str},
        pk="id", foreign_keys=[("image_id", "images", "id"), ("model_id", "models", "id")],
        not_null={"image_id", "model_id", "num_points", "points", "confidence", "created_at"})


def _migration_2(db: sqlite_utils.Database) -> None:
    """Version 2: annotations remember the version they were based on; faster latest-prediction look-up."""
    db["annotations"].add_column("base_version", int)
    db.execute("UPDATE annotations SET base_version = CASE WHEN version > 1 THEN version - 1 END")
    db["predictions"].create_index(["image_id", "model_id", "id"])
    db["models"].create_index(["sha256"])


def _migration_3(db: sqlite_utils.Database) -> None:
    """Version 3: several faces per picture. Each images row is one face (``face`` index, unique with the
    picture's sha256) with the source of its box; existing rows become face 0, box source unknown."""
    db["images"].add_column("face", int, not_null_default=0)
    db["images"].add_column("box_source", str)
    for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'images' "
                              "AND sql LIKE '%sha256%'").fetchall():
        db.execute(f'DROP INDEX "{name}"')  # our own index name, read from sqlite_master
    db["images"].create_index(["sha256", "face"], unique=True)


#: MIGRATIONS[i] takes a workspace from schema version i to i + 1, inside one transaction.
MIGRATIONS: tuple[Callable[[sqlite_utils.Database], None], ...] = (_migration_1, _migration_2, _migration_3)
SCHEMA_VERSION = len(MIGRATIONS)

_ANN_COLS = ("id", "image_id", "version", "author", "created_at", "source", "status", "num_points",
             "points", "visibility", "pose", "schema", "note", "base_version")
_IMG_COLS = ("id", "path", "name", "root", "sha256", "width", "height", "dataset", "split", "subset",
             "tags", "box", "face", "box_source")
_PRED_COLS = ("id", "image_id", "model_id", "num_points", "points", "pose", "confidence", "box",
              "uncertainty", "created_at")


# ----------------------------------------------------------------------------------------- workspace


class Workspace:
    """A workspace file (or an in-memory one for ``path=None``).

    Args:
        path: the ``.db`` file; created (with its schema) when missing, migrated when older.
        create: when False, a missing file is a StoreError instead of a new workspace.
        timeout: seconds a write waits for another process's write before a StoreError.

    Raises:
        StoreError naming the file when it is not SQLite, is another application's SQLite file, or was
        written by a newer version of this program.
    """

    def __init__(self, path: str | Path | None = None, *, create: bool = True,
                 timeout: float = DEFAULT_TIMEOUT_S):
        self.path = None if path is None else Path(path)
        self.timeout = float(timeout)
        self._lock = threading.RLock()
        self.db = sqlite_utils.Database(self._connect(create))
        try:
            version = self._identify()
            if self.path is not None:
                self._enable_wal()
            if version < SCHEMA_VERSION:
                self._migrate()
        except sqlite3.DatabaseError as exc:  # e.g. a damaged file whose header looked fine
            self.db.conn.close()
            raise StoreError(f"{self._where}: cannot use this workspace file ({type(exc).__name__}: {exc})") from None
        except BaseException:
            self.db.conn.close()
            raise

    # -- opening --------------------------------------------------------------------------------

    @property
    def _where(self) -> str:
        return str(self.path) if self.path is not None else "in-memory workspace"

    def _connect(self, create: bool) -> sqlite3.Connection:
        if self.path is None:
            conn = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
        else:
            if self.path.is_dir():
                raise StoreError(f"{self.path}: is a folder, not a workspace file")
            if not self.path.exists():
                if not create:
                    raise StoreError(f"{self.path}: workspace file not found")
                if not self.path.parent.is_dir():
                    raise StoreError(f"{self.path}: the folder {self.path.parent} does not exist")
            try:
                conn = sqlite3.connect(str(self.path), timeout=self.timeout, isolation_level=None,
                                       check_same_thread=False)
            except sqlite3.Error as exc:
                raise StoreError(f"{self.path}: cannot open ({exc})") from None
        try:
            conn.execute("PRAGMA schema_version").fetchone()  # reads the header: fails on non-SQLite files
            conn.execute(f"PRAGMA busy_timeout = {int(self.timeout * 1000)}")
            conn.execute("PRAGMA foreign_keys = ON")
        except sqlite3.DatabaseError as exc:
            conn.close()
            raise StoreError(f"{self._where}: not a SQLite workspace file ({exc})") from None
        return conn

    def _identify(self) -> int:
        """The file's schema version; StoreError for a foreign or newer file."""
        conn = self.db.conn
        app_id = conn.execute("PRAGMA application_id").fetchone()[0]
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        tables = [r[0] for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")]
        if app_id != APPLICATION_ID and (tables or version or app_id):
            raise StoreError(f"{self._where}: a SQLite file of another application, not an ASMNet Studio "
                             f"workspace (application_id {app_id}, tables {tables[:8]})")
        if version > SCHEMA_VERSION:
            raise StoreError(f"{self._where}: workspace schema version {version} is newer than this "
                             f"program's {SCHEMA_VERSION}; update ASMNet Studio to open it")
        return version

    def _enable_wal(self) -> None:
        try:
            mode = self.db.conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            # In WAL mode NORMAL never corrupts the file; a process crash loses no commit, a power cut
            # at most the last few.
            self.db.conn.execute("PRAGMA synchronous = NORMAL")
        except sqlite3.OperationalError as exc:
            raise StoreError(f"{self._where}: cannot switch to WAL mode ({exc})") from None
        if str(mode).lower() != "wal":
            raise StoreError(f"{self._where}: cannot switch to WAL mode (journal mode stays {mode!r})")

    def _migrate(self) -> None:
        """Apply the missing migrations, each in its own transaction (another process may race us)."""
        for target in range(1, SCHEMA_VERSION + 1):
            with self._write():
                current = self.db.conn.execute("PRAGMA user_version").fetchone()[0]
                if current >= target:
                    continue
                MIGRATIONS[target - 1](self.db)
                # PRAGMA values cannot be bound as parameters; both are our own integers.
                self.db.conn.execute(f"PRAGMA user_version = {int(target)}")
                self.db.conn.execute(f"PRAGMA application_id = {int(APPLICATION_ID)}")

    @property
    def schema_version(self) -> int:
        """The file's schema version (``PRAGMA user_version``)."""
        with self._lock:
            return int(self.db.conn.execute("PRAGMA user_version").fetchone()[0])

    def close(self) -> None:
        """Close the connection (idempotent)."""
        with self._lock:
            self.db.conn.close()

    def __enter__(self) -> "Workspace":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Workspace({self._where!r})"

    # -- transactions ---------------------------------------------------------------------------

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One ``BEGIN IMMEDIATE`` transaction: committed on success, rolled back on any exception."""
        with self._lock:
            conn = self.db.conn
            try:
                conn.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as exc:
                raise StoreError(f"{self._where}: cannot start a write ({exc}); another process held "
                                 f"the workspace for more than {self.timeout:g} s") from None
            try:
                yield conn
                conn.execute("COMMIT")
            except BaseException as exc:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                if isinstance(exc, sqlite3.Error):
                    raise StoreError(f"{self._where}: the write failed and was rolled back "
                                     f"({type(exc).__name__}: {exc})") from exc
                raise

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        """A read transaction: several SELECTs see one consistent snapshot."""
        with self._lock:
            conn = self.db.conn
            conn.execute("BEGIN")
            try:
                yield conn
            finally:
                if conn.in_transaction:
                    conn.execute("COMMIT")

    def _rows(self, conn: sqlite3.Connection, sql: str, params: Sequence = ()) -> list[dict]:
        """Rows of a SELECT as dicts; a damaged file is a StoreError naming it."""
        try:
            cur = conn.execute(sql, params)
            keys = [d[0] for d in cur.description]
            return [dict(zip(keys, row)) for row in cur.fetchall()]
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{self._where}: cannot read the workspace ({type(exc).__name__}: {exc})") from exc

    # -- images ---------------------------------------------------------------------------------

    def add_image(self, file: str | Path, *, dataset: str | None = None, split: str | None = None,
                  subset: str | None = None, tags: Iterable[str] = (), box=None,
                  name: str | None = None, root: str | Path | None = None, box_source: str | None = None) -> int:
        """Add one image file (deduplicated by the sha256 of its content) and return the id of its face 0.

        An image whose content is already present returns the existing id (of its face 0) unchanged.
        ``box`` is face 0's box and ``box_source`` (one of ``BOX_SOURCES``) where it came from.
        ``root`` / ``name``: the folder and relative name it is known by (default: its folder and file name).
        Raises ImageError when the file is missing, empty or not a readable image.
        """
        file = Path(os.path.abspath(file))
        sha, width, height = inspect_image(file)
        row = self._image_row(file, sha, width, height, dataset=dataset, split=split, subset=subset,
                              tags=tags, box=box, name=name, root=root, box_source=box_source)
        with self._write() as conn:
            existing = conn.execute("SELECT id FROM images WHERE sha256 = ? ORDER BY face LIMIT 1", (sha,)).fetchone()
            if existing:
                return int(existing[0])
            return self._insert_image_row(conn, row)

    def _image_row(self, file: Path, sha: str, width: int, height: int, *, dataset, split, subset, tags,
                   box, name, root, face: int = 0, box_source: str | None = None) -> dict:
        tags = [str(t) for t in ([tags] if isinstance(tags, str) else tags)]
        box = _check_vector(box, 4, "box")
        if box_source is not None:
            _check_choice(box_source, BOX_SOURCES, "box source")
        face = _check_int_id(face, "face")
        if face < 0:
            raise ValueError(f"face must be >= 0, found {face}")
        for what, value in (("dataset", dataset), ("split", split), ("subset", subset)):
            _check_text(value, what, optional=True)
        if name is not None:
            name = _relative_name(name, Path(root or file.parent), "image name").as_posix()
        return {"path": str(file), "name": name or file.name, "root": str(root or file.parent),
                "sha256": sha, "width": width, "height": height, "dataset": dataset, "split": split,
                "subset": subset, "tags": json.dumps(tags), "box": _f32_blob(box), "added_at": _now(),
                "face": face, "box_source": box_source}

    def _insert_image_row(self, conn: sqlite3.Connection, row: dict) -> int:
        cols = list(row)
        cur = conn.execute(f"INSERT INTO images ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",
                           [row[c] for c in cols])
        return int(cur.lastrowid)

    @staticmethod
    def _image_record(r: dict) -> ImageRecord:
        return ImageRecord(id=r["id"], path=Path(r["path"]), sha256=r["sha256"], width=r["width"],
                           height=r["height"], dataset=r["dataset"], split=r["split"], subset=r["subset"],
                           tags=list(json.loads(r["tags"])), box=_f32(r["box"], (4,)), name=r["name"],
                           root=Path(r["root"]) if r["root"] else None, face=int(r["face"] or 0),
                           box_source=r["box_source"])

    _STATUS_SQL = ("COALESCE((SELECT a.status FROM annotations a WHERE a.image_id = images.id "
                   "ORDER BY a.version DESC LIMIT 1), 'todo')")

    def images(self, *, status: str | Iterable[str] | None = None, split: str | None = None,
               dataset: str | None = None) -> list[ImageRecord]:
        """Images in id order, filtered by status (of the latest annotation; "todo" when none; one
        status or several), split and dataset."""
        statuses = _check_statuses(status)
        where, params = [], []
        if statuses:
            where.append(f"{self._STATUS_SQL} IN ({', '.join('?' * len(statuses))})")
            params.extend(statuses)
        for col, value in (("split", split), ("dataset", dataset)):
            if value is not None:
                where.append(f"{col} = ?")
                params.append(value)
        sql = f"SELECT {', '.join(_IMG_COLS)} FROM images"
        if where:
            sql += " WHERE " + " AND ".join(where)
        with self._lock:
            rows = self._rows(self.db.conn, sql + " ORDER BY id", params)
        return [self._image_record(r) for r in rows]

    def image(self, image_id: int) -> ImageRecord:
        """One image; NotFoundError when there is no such id."""
        image_id = _check_int_id(image_id, "image_id")
        with self._lock:
            rows = self._rows(self.db.conn, f"SELECT {', '.join(_IMG_COLS)} FROM images WHERE id = ?",
                              (image_id,))
        if not rows:
            raise NotFoundError(f"{self._where}: no image with id {image_id}")
        return self._image_record(rows[0])

    def image_path(self, image_id: int) -> Path:
        """The image file's absolute path."""
        return self.image(image_id).path

    def find_image(self, sha256: str) -> int | None:
        """The id of face 0 of the image with this content hash, or None."""
        with self._lock:
            row = self.db.conn.execute("SELECT id FROM images WHERE sha256 = ? ORDER BY face LIMIT 1",
                                       (sha256,)).fetchone()
        return None if row is None else int(row[0])

    def faces_of(self, image_id: int) -> list[ImageRecord]:
        """Every face of the picture that face ``image_id`` belongs to (itself included), by face index."""
        rec = self.image(image_id)
        with self._lock:
            rows = self._rows(self.db.conn, f"SELECT {', '.join(_IMG_COLS)} FROM images WHERE sha256 = ? "
                              "ORDER BY face", (rec.sha256,))
        return [self._image_record(r) for r in rows]

    def add_face(self, image_id: int, box, *, box_source: str = "hand") -> int:
        """Add another face to the picture of face ``image_id``, with its face box (4,) x0, y0, x1, y1
        pixels; returns the new face's id (its index is the picture's highest + 1). The new face copies the
        picture's file, name, dataset, split, subset and tags."""
        rec = self.image(image_id)
        box = _check_vector(box, 4, "box")
        if box is None:
            raise ValueError("a new face needs its face box (4,) x0, y0, x1, y1")
        with self._write() as conn:
            face = conn.execute("SELECT MAX(face) FROM images WHERE sha256 = ?", (rec.sha256,)).fetchone()[0]
            row = self._image_row(rec.path, rec.sha256, rec.width, rec.height, dataset=rec.dataset, split=rec.split,
                                  subset=rec.subset, tags=rec.tags, box=box, name=rec.name, root=rec.root,
                                  face=int(face) + 1, box_source=box_source)
            return self._insert_image_row(conn, row)

    def set_box(self, image_id: int, box, *, box_source: str) -> None:
        """Set a face's box (4,) x0, y0, x1, y1 pixels (None: no box) and where it came from (``BOX_SOURCES``)."""
        image_id = _check_int_id(image_id, "image_id")
        box = _check_vector(box, 4, "box")
        _check_choice(box_source, BOX_SOURCES, "box source")
        with self._write() as conn:
            self._require_image(conn, image_id)
            conn.execute("UPDATE images SET box = ?, box_source = ? WHERE id = ?",
                         (_f32_blob(box), box_source, image_id))

    def _require_image(self, conn: sqlite3.Connection, image_id: int) -> None:
        if conn.execute("SELECT 1 FROM images WHERE id = ?", (image_id,)).fetchone() is None:
            raise NotFoundError(f"{self._where}: no image with id {image_id}")

    # -- annotations ----------------------------------------------------------------------------

    def save_annotation(self, image_id: int, points, *, author: str, base_version: int | None,
                        source: str = "correction", status: str = "in_progress", visibility=None,
                        pose=None, schema: str = "ibug68", note: str | None = None) -> Annotation:
        """Save a new version of an image's landmarks and return it.

        Args:
            points: (K, 2) x, y pixels (stored as float32, bit-exact).
            base_version: the latest version the caller saw (None: it saw no annotation).
            visibility: (K,) 0/1/2 or None. pose: (3,) yaw, pitch, roll degrees or None.
        Raises:
            ConflictError when ``base_version`` is not the latest version (nothing is written).
            ValueError for bad points (naming the point index), status or source (listing the choices).
            NotFoundError for an unknown image.
        """
        image_id = _check_int_id(image_id, "image_id")
        row = self._annotation_row(points, author=author, source=source, status=status,
                                   visibility=visibility, pose=pose, schema=schema, note=note)
        if base_version is not None:
            base_version = _check_int_id(base_version, "base_version")
        with self._write() as conn:
            self._require_image(conn, image_id)
            return self._insert_annotation(conn, image_id, row, base_version)

    def _annotation_row(self, points, *, author, source, status, visibility, pose, schema, note) -> dict:
        """Validated, encoded columns of an annotation (all but id, image_id, version, base_version)."""
        pts = check_points(points)
        k = pts.shape[0]
        return {"author": _check_text(author, "author"),
                "created_at": _now(),
                "source": _check_choice(source, SOURCES, "source"),
                "status": _check_choice(status, STATUSES, "status"),
                "num_points": k,
                "points": _f32_blob(pts),
                "visibility": None if visibility is None else check_visibility(visibility, k).tobytes(),
                "pose": _f32_blob(_check_vector(pose, 3, "pose")),
                "schema": _check_schema(schema, k),
                "note": _check_text(note, "note", optional=True)}

    def _insert_annotation(self, conn: sqlite3.Connection, image_id: int, row: dict,
                           base_version: int | None) -> Annotation:
        """Inside a write transaction: check ``base_version`` is the latest, insert the next version."""
        latest = conn.execute("SELECT version, author FROM annotations WHERE image_id = ? "
                              "ORDER BY version DESC LIMIT 1", (image_id,)).fetchone()
        actual = None if latest is None else int(latest[0])
        if base_version != actual:
            raise ConflictError(image_id, base_version, actual, None if latest is None else latest[1])
        full = dict(row, image_id=image_id, version=(actual or 0) + 1, base_version=actual)
        cols = list(full)
        cur = conn.execute(
            f"INSERT INTO annotations ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",
            [full[c] for c in cols])
        full["id"] = int(cur.lastrowid)
        return self._annotation(full)

    @staticmethod
    def _annotation(r: dict) -> Annotation:
        k = r["num_points"]
        return Annotation(id=r["id"], image_id=r["image_id"], version=r["version"], author=r["author"],
                          created_at=r["created_at"], source=r["source"], status=r["status"],
                          points=_f32(r["points"], (k, 2)), visibility=_i8(r["visibility"]),
                          pose=_f32(r["pose"], (3,)), schema=r["schema"], note=r["note"],
                          base_version=r["base_version"])

    def latest(self, image_id: int, source: str | None = None) -> Annotation | None:
        """The latest version of an image's annotation (of one ``source`` when given), or None."""
        image_id = _check_int_id(image_id, "image_id")
        sql = f"SELECT {', '.join(_ANN_COLS)} FROM annotations WHERE image_id = ?"
        params: list = [image_id]
        if source is not None:
            sql += " AND source = ?"
            params.append(_check_choice(source, SOURCES, "source"))
        with self._lock:
            rows = self._rows(self.db.conn, sql + " ORDER BY version DESC LIMIT 1", params)
        return self._annotation(rows[0]) if rows else None

    def history(self, image_id: int) -> list[Annotation]:
        """Every version of an image's annotation, oldest first."""
        image_id = _check_int_id(image_id, "image_id")
        with self._lock:
            rows = self._rows(self.db.conn, f"SELECT {', '.join(_ANN_COLS)} FROM annotations "
                              "WHERE image_id = ? ORDER BY version", (image_id,))
        return [self._annotation(r) for r in rows]

    # -- models and predictions -----------------------------------------------------------------

    def register_model(self, name: str, checkpoint: str | Path, sha256: str, card: dict) -> int:
        """Register a model version and return its id (the existing id when the same name and
        sha256 are already registered). ``card`` must be JSON-serialisable."""
        _check_text(name, "name")
        _check_text(sha256, "sha256")
        if not isinstance(card, dict):
            raise ValueError(f"card must be a dict, found {type(card).__name__}")
        try:
            card_json = json.dumps(card, sort_keys=True)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"model card of {name!r} is not JSON-serialisable ({exc})") from None
        with self._write() as conn:
            row = conn.execute("SELECT id FROM models WHERE name = ? AND sha256 = ?", (name, sha256)).fetchone()
            if row:
                return int(row[0])
            cur = conn.execute("INSERT INTO models (name, checkpoint, sha256, card, created_at) "
                               "VALUES (?, ?, ?, ?, ?)", (name, str(checkpoint), sha256, card_json, _now()))
            return int(cur.lastrowid)

    def models(self) -> list[ModelRecord]:
        """Registered model versions, oldest first."""
        with self._lock:
            rows = self._rows(self.db.conn, "SELECT id, name, checkpoint, sha256, card, created_at "
                              "FROM models ORDER BY id")
        return [ModelRecord(id=r["id"], name=r["name"], checkpoint=r["checkpoint"], sha256=r["sha256"],
                            card=json.loads(r["card"]), created_at=r["created_at"]) for r in rows]

    def save_predictions(self, rows: Sequence[PredictionRow]) -> None:
        """Store predictions, all in one transaction (all or nothing). ValueError / NotFoundError name
        the row index at fault."""
        encoded = [self._prediction_columns(i, r) for i, r in enumerate(rows)]
        with self._write() as conn:
            for i, r in enumerate(encoded):
                self._require_ids(conn, i, r["image_id"], r["model_id"])
                cols = list(r)
                conn.execute(f"INSERT INTO predictions ({', '.join(cols)}) VALUES "
                             f"({', '.join('?' * len(cols))})", [r[c] for c in cols])

    def _require_ids(self, conn: sqlite3.Connection, i: int, image_id: int, model_id: int) -> None:
        if conn.execute("SELECT 1 FROM images WHERE id = ?", (image_id,)).fetchone() is None:
            raise NotFoundError(f"{self._where}: prediction row {i}: no image with id {image_id}")
        if conn.execute("SELECT 1 FROM models WHERE id = ?", (model_id,)).fetchone() is None:
            raise NotFoundError(f"{self._where}: prediction row {i}: no model with id {model_id}")

    @staticmethod
    def _prediction_columns(i: int, r: PredictionRow) -> dict:
        try:
            pts = check_points(r.points)
            k = pts.shape[0]
            conf = _check_vector(r.confidence, k, "confidence")
            if conf is None:
                raise ValueError("confidence is required, shape (K,)")
            unc = float(r.uncertainty) if r.uncertainty is not None else float("nan")
            return {"image_id": _check_int_id(r.image_id, "image_id"),
                    "model_id": _check_int_id(r.model_id, "model_id"), "num_points": k,
                    "points": _f32_blob(pts), "pose": _f32_blob(_check_vector(r.pose, 3, "pose")),
                    "confidence": _f32_blob(conf), "box": _f32_blob(_check_vector(r.box, 4, "box")),
                    "uncertainty": None if math.isnan(unc) else unc, "created_at": _now()}
        except (ValueError, TypeError) as exc:
            raise ValueError(f"prediction row {i}: {exc}") from None

    @staticmethod
    def _prediction(r: dict) -> PredictionRow:
        k = r["num_points"]
        unc = r["uncertainty"]
        return PredictionRow(image_id=r["image_id"], model_id=r["model_id"], points=_f32(r["points"], (k, 2)),
                             pose=_f32(r["pose"], (3,)), confidence=_f32(r["confidence"], (k,)),
                             box=_f32(r["box"], (4,)), uncertainty=float("nan") if unc is None else float(unc),
                             id=r["id"], created_at=r["created_at"])

    def latest_prediction(self, image_id: int, model_id: int | None = None) -> PredictionRow | None:
        """The most recently saved prediction for an image (of one model when given), or None."""
        rows = self._prediction_rows(image_id, model_id, "ORDER BY id DESC LIMIT 1")
        return rows[0] if rows else None

    def predictions(self, image_id: int, model_id: int | None = None) -> list[PredictionRow]:
        """Every prediction saved for an image (of one model when given), oldest first; each row's
        ``created_at`` says when (used to find the prediction a correction was based on)."""
        return self._prediction_rows(image_id, model_id, "ORDER BY id")

    def _prediction_rows(self, image_id: int, model_id: int | None, order: str) -> list[PredictionRow]:
        """Predictions of an image (of one model when given); ``order`` is a fixed ORDER BY [LIMIT] clause."""
        sql = f"SELECT {', '.join(_PRED_COLS)} FROM predictions WHERE image_id = ?"
        params: list = [_check_int_id(image_id, "image_id")]
        if model_id is not None:
            sql += " AND model_id = ?"
            params.append(_check_int_id(model_id, "model_id"))
        with self._lock:
            rows = self._rows(self.db.conn, f"{sql} {order}", params)
        return [self._prediction(r) for r in rows]

    # -- the work queue -------------------------------------------------------------------------

    _QUEUE_SQL = """
        WITH la AS (SELECT image_id, status, author, created_at, version, source FROM (
                 SELECT a.*, ROW_NUMBER() OVER (PARTITION BY image_id ORDER BY version DESC) AS rn
                 FROM annotations a) WHERE rn = 1),
             lc AS (SELECT image_id, num_points, points FROM (
                 SELECT a.*, ROW_NUMBER() OVER (PARTITION BY image_id ORDER BY version DESC) AS rn
                 FROM annotations a WHERE source = ?) WHERE rn = 1),
             lp AS (SELECT image_id, num_points, points, confidence, uncertainty FROM (
                 SELECT p.*, ROW_NUMBER() OVER (PARTITION BY image_id ORDER BY id DESC) AS rn
                 FROM predictions p) WHERE rn = 1)
        SELECT i.id AS image_id, i.path, COALESCE(la.status, 'todo') AS status, la.author,
               la.created_at AS updated_at, la.version, la.source, lp.num_points AS pred_k,
               lp.points AS pred_points, lp.confidence AS pred_conf, lp.uncertainty,
               lc.num_points AS corr_k, lc.points AS corr_points, i.split, i.dataset, i.face, i.box_source,
               (SELECT COUNT(*) FROM images j WHERE j.sha256 = i.sha256) AS faces
        FROM images i LEFT JOIN la ON la.image_id = i.id LEFT JOIN lp ON lp.image_id = i.id
             LEFT JOIN lc ON lc.image_id = i.id
        ORDER BY i.id"""

    QUEUE_COLUMNS = ("image_id", "path", "status", "author", "updated_at", "confidence", "uncertainty",
                     "correction_px", "split", "dataset", "version", "source", "face", "faces", "box_source",
                     "predicted")

    def queue(self):
        """The work queue: a pandas DataFrame, one row per image (id order), columns ``QUEUE_COLUMNS``:

        image_id, path, status (latest annotation's; "todo" when none), author and updated_at (of the
        latest annotation; None when none), confidence (mean per-point confidence of the latest
        prediction; NaN when none), uncertainty (of that prediction), correction_px (mean distance in
        pixels of the latest correction from that prediction; NaN when either is missing), split,
        dataset, version (latest annotation version; None when none), source (of that version), face
        (index of the face in its picture), faces (how many faces its picture has), box_source (see
        ``BOX_SOURCES``; "not_found": no face was found, a person must draw the box), predicted (whether
        the face has a prediction).
        """
        import pandas as pd

        with self._read() as conn:
            rows = self._rows(conn, self._QUEUE_SQL, ("correction",))
        for r in rows:
            pred_k, corr_k = r.pop("pred_k"), r.pop("corr_k")
            pred = _f32(r.pop("pred_points"), (pred_k or 0, 2))
            conf = _f32(r.pop("pred_conf"), (pred_k or 0,))
            corr = _f32(r.pop("corr_points"), (corr_k or 0, 2))
            r["predicted"] = pred is not None
            r["confidence"] = float(conf.mean()) if conf is not None and conf.size else float("nan")
            r["uncertainty"] = float("nan") if r["uncertainty"] is None else float(r["uncertainty"])
            r["correction_px"] = (float(np.linalg.norm(corr - pred, axis=1).mean())
                                  if pred is not None and corr is not None and pred.shape == corr.shape
                                  else float("nan"))
        return pd.DataFrame(rows, columns=list(self.QUEUE_COLUMNS))

    # -- consistency ----------------------------------------------------------------------------

    def check(self) -> list[str]:
        """Problems found by ``PRAGMA integrity_check``, the foreign-key check and the history rules
        (versions 1..n contiguous per image, base_version = version - 1); empty when all is well."""
        try:
            return self._check()
        except sqlite3.DatabaseError as exc:
            return [f"{self._where}: {type(exc).__name__}: {exc}"]

    def _check(self) -> list[str]:
        with self._read() as conn:
            out = [r[0] for r in conn.execute("PRAGMA integrity_check") if r[0] != "ok"]
            out += [f"foreign key: {tuple(r)}" for r in conn.execute("PRAGMA foreign_key_check")]
            for image_id, n, lo, hi in conn.execute(
                    "SELECT image_id, COUNT(*), MIN(version), MAX(version) FROM annotations GROUP BY image_id"):
                if lo != 1 or hi != n:
                    out.append(f"image {image_id}: versions are not 1..{n} (min {lo}, max {hi})")
            for (aid,) in conn.execute(
                    "SELECT id FROM annotations WHERE base_version IS NOT version - 1 "
                    "AND NOT (version = 1 AND base_version IS NULL)"):
                out.append(f"annotation {aid}: base_version is not version - 1")
        return out

    # -- import / export ------------------------------------------------------------------------

    def import_dataset(self, ds: Dataset, *, author: str = "import", progress: ProgressCallback | None = None,
                       status: str = "todo", dataset: str | None = None) -> ImportReport:
        """Add a dataset's faces and their ground truth (version 1, source ground_truth, ``status``).

        Every annotated face of a picture is kept: sample ``face`` k of an image becomes face k of that
        picture. Faces are identified by the content of their image and their index, so re-importing adds
        nothing twice. Each face and its
        annotation go in one transaction, so an interrupted import leaves a consistent workspace and a
        re-run completes it. Bad images (missing, empty, corrupt) are skipped and reported by name.
        ``progress(done, total)`` is called after each sample. ``dataset`` names the images' dataset
        (default: the name of the dataset folder).

        Raises UnsafePathError, before writing anything, when a sample's image path is absolute,
        contains ``..`` or leads through a symlink outside ``ds.root``.
        """
        _check_text(author, "author")
        _check_choice(status, STATUSES, "status")
        root = Path(os.path.abspath(ds.root))
        files = [safe_join(root, s.image, "image path") for s in ds.samples]
        report = ImportReport(problems=list(ds.problems))
        seen: set[tuple[str, int]] = set()
        label = dataset or root.name
        for n, (sample, file) in enumerate(zip(ds.samples, files), start=1):
            self._import_sample(ds, label, root, sample, file, author, status, seen, report)
            if progress is not None:
                progress(n, len(files))
        return report

    def import_images(self, root: str | Path, *, dataset: str | None = None, split: str | None = None,
                      progress: ProgressCallback | None = None) -> ImportReport:
        """Add every image file of a plain folder (``datasets.formats.plain_images.find_images``: jpg,
        jpeg, png, bmp, webp, recursively), each as face 0 of its picture with no box and no annotation
        (``asmnet.workspace_prelabel.prelabel_new_faces`` then finds the faces).

        Images are deduplicated by content (a re-import adds nothing); each image is one transaction.
        Bad files (empty, corrupt, truncated, not an image, too large) are skipped and reported by name;
        other files are listed in ``problems`` as ignored. ``progress(done, total)`` after each file.
        Raises FileNotFoundError / NotADirectoryError naming ``root`` before writing anything, and
        UnsafePathError for a file that leads outside ``root`` through a symlink.
        """
        from datasets.formats.plain_images import find_images

        names, ignored = find_images(root)
        root = Path(os.path.abspath(root))
        files = [safe_join(root, n, "image path") for n in names]
        report = ImportReport(problems=[Problem(str(root / n), f"{root / n}: not an image file name "
                                                "(.jpg .jpeg .png .bmp .webp); ignored") for n in ignored])
        label = dataset or root.name
        for n, (name, file) in enumerate(zip(names, files), start=1):
            try:
                sha, width, height = inspect_image(file)
                row = self._image_row(file, sha, width, height, dataset=label, split=split, subset=None, tags=(),
                                      box=None, name=name, root=root)
            except (ImageError, ValueError) as exc:
                report.skipped.append(Problem(str(file), str(exc) if str(file) in str(exc) else f"{file}: {exc}"))
            else:
                with self._write() as conn:
                    got = conn.execute("SELECT id FROM images WHERE sha256 = ? ORDER BY face LIMIT 1",
                                       (sha,)).fetchone()
                    image_id = int(got[0]) if got else self._insert_image_row(conn, row)
                report.image_ids.append(image_id)
                if got:
                    report.present += 1
                else:
                    report.added += 1
            if progress is not None:
                progress(n, len(files))
        return report

    def _import_sample(self, ds: Dataset, label: str, root: Path, s: Sample, file: Path, author: str, status: str,
                       seen: set[str], report: ImportReport) -> None:
        key = PurePosixPath(s.image.replace("\\", "/")).as_posix()
        if (key, s.face) in seen:
            report.skipped.append(Problem(str(file), f"{file}: face {s.face} appears twice in the dataset; "
                                                     "the second one is skipped"))
            return
        seen.add((key, s.face))
        try:
            sha, width, height = inspect_image(file)
            img = self._image_row(file, sha, width, height, dataset=label, split=s.split, subset=s.subset,
                                  tags=(), box=s.box, name=key, root=root, face=s.face,
                                  box_source=None if s.box is None else "dataset")
            ann = self._annotation_row(s.points, author=author, source="ground_truth", status=status,
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
                image_id = self._insert_image_row(conn, dict(img, face=0 if top is None else int(top) + 1))
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

    def accepted(self, *, statuses: str | Iterable[str] | None = None) -> list[tuple[ImageRecord, Annotation]]:
        """(image, accepted annotation) pairs in image id order: the latest correction of each image if
        it has one, else its latest ground truth; optionally only those whose status is in ``statuses``.
        Images with neither are left out."""
        statuses = _check_statuses(statuses)
        sql = f"""
            SELECT {', '.join('a.' + c for c in _ANN_COLS)}, {', '.join('i.' + c + ' AS img_' + c for c in _IMG_COLS)}
            FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY image_id ORDER BY
                         CASE source WHEN 'correction' THEN 0 ELSE 1 END, version DESC) AS rn
                  FROM annotations WHERE source IN (?, ?)) a
            JOIN images i ON i.id = a.image_id
            WHERE a.rn = 1"""
        params: list = list(ACCEPTED_SOURCES)
        if statuses:
            sql += f" AND a.status IN ({', '.join('?' * len(statuses))})"
            params.extend(statuses)
        with self._read() as conn:
            rows = self._rows(conn, sql + " ORDER BY i.id", params)
        out = []
        for r in rows:
            img = self._image_record({c: r["img_" + c] for c in _IMG_COLS})
            out.append((img, self._annotation({c: r[c] for c in _ANN_COLS})))
        return out

    def export_dataset(self, out_dir: str | Path, format: str, *, statuses: str | Iterable[str] | None = None,
                       schema: str | None = None) -> Path:
        """Write the accepted version of each image (see ``accepted``) with its split into ``out_dir``
        through ``datasets.formats.write_dataset``; returns what the writer returns.

        ``schema`` picks one landmark schema when the workspace holds several (ValueError otherwise).
        Raises UnsafePathError when an image's name would be written outside ``out_dir`` (absolute,
        ``..`` or a symlink inside ``out_dir`` leading out), StoreError when an image file is missing.
        """
        from datasets.formats import get_format, write_dataset

        get_format(format)  # ValueError listing the formats, before any work
        pairs = self.accepted(statuses=statuses)
        pairs = self._one_schema(pairs, schema)
        ds = self._export_dataset(pairs, format)
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        for s in ds.samples:
            safe_join(out_dir, s.image, "exported image name")
        return write_dataset(ds, out_dir, format)

    @staticmethod
    def _one_schema(pairs: list[tuple[ImageRecord, Annotation]], schema: str | None):
        if schema is not None:
            return [(i, a) for i, a in pairs if a.schema == schema]
        found = sorted({a.schema for _, a in pairs})
        if len(found) > 1:
            raise ValueError(f"the workspace holds several landmark schemas {found}; pass schema= one of them")
        return pairs

    def _face_ranks(self) -> dict[int, int]:
        """face id -> its index among the faces stored under the same content *and name* (what a format
        writes as the face number of that image file: 300-W's ``x_1.jpg`` and ``x_2.jpg``, one picture, are
        two files with one face each)."""
        with self._read() as conn:
            rows = conn.execute("SELECT id, ROW_NUMBER() OVER (PARTITION BY sha256, name ORDER BY face) - 1 "
                                "FROM images").fetchall()
        return {int(i): int(r) for i, r in rows}

    def _export_dataset(self, pairs: list[tuple[ImageRecord, Annotation]], format: str) -> Dataset:
        """An in-memory Dataset of the accepted annotations; images named relative to one root."""
        missing = [str(img.path) for img, _ in pairs if not img.path.is_file()]
        if missing:
            raise StoreError(f"{self._where}: {len(missing)} image file(s) are missing, e.g. {missing[:5]}")
        roots = {img.root for img, _ in pairs}
        if len(roots) == 1 and None not in roots and all(img.name for img, _ in pairs):
            root = Path(roots.pop())
            names = [img.name for img, _ in pairs]
        else:
            root = Path(os.path.commonpath([str(img.path.parent) for img, _ in pairs])) if pairs else Path(".")
            names = [img.path.relative_to(root).as_posix() for img, _ in pairs]
        for name in names:
            _relative_name(name, root, "image name")
        schema = pairs[0][1].schema if pairs else "ibug68"
        rank = self._face_ranks()
        samples = [Sample(image=name, points=a.points, schema=a.schema, visibility=a.visibility, pose=a.pose,
                          box=img.box, split=img.split, subset=img.subset, face=rank.get(img.id, 0),
                          source_file=f"{self._where}#image={img.id},version={a.version}")
                   for name, (img, a) in zip(names, pairs)]
        return Dataset(root=root, format=format, schema=schema, samples=samples)
