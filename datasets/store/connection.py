"""Opening a workspace file and its transactions: identification (``PRAGMA application_id``), schema
migration, WAL mode, the write / read transactions every other part of the store goes through, and the
consistency check.

Concurrency: the file is in WAL mode with a busy timeout, so concurrent readers never block and
concurrent writers wait for each other instead of failing. Every write is one ``BEGIN IMMEDIATE``
transaction. One connection may be shared by threads (a lock serialises its use).
"""
from __future__ import annotations

import sqlite3
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Sequence

import sqlite_utils

from asmnet_studio.datasets.errors import StoreError
from asmnet_studio.datasets.store.migrations import MIGRATIONS, SCHEMA_VERSION

#: ``PRAGMA application_id`` of a workspace file ("ASMN").
APPLICATION_ID = 0x41534D4E
#: Seconds a writer waits for another writer's transaction before giving up.
DEFAULT_TIMEOUT_S = 60.0


def insert_row(conn: sqlite3.Connection, table: str, row: dict) -> int:
    """Insert ``row`` (column -> value) into ``table`` (one of our own table names); returns its id."""
    cols = list(row)
    cur = conn.execute(f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",
                       [row[c] for c in cols])
    return int(cur.lastrowid)


class WorkspaceConnection:
    """The connection to a workspace file (or an in-memory one for ``path=None``): opening, migration,
    transactions and the consistency check. ``Workspace`` adds the reads and writes; its docstring lists the
    arguments and the errors of opening.
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

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._where!r})"

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
            for aid, src in conn.execute(
                    "SELECT id, pose_source FROM annotations WHERE pose_source IS NULL OR pose_source NOT IN "
                    "('ground_truth', 'model', 'none') OR (pose IS NULL) != (pose_source = 'none')"):
                out.append(f"annotation {aid}: pose_source {src!r} does not fit its pose")
        return out
