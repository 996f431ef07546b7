"""The workspace store: one SQLite file holding images (one row per face), annotations with full history,
predictions and model versions. ``Workspace`` (``asmnet_studio.datasets.store.workspace``) is the entry point; the
package's modules are listed in that module's docstring. The public names are re-exported here, so
``from asmnet_studio.datasets.store import Workspace, PredictionRow, ...`` is the one import callers need.
"""
from asmnet_studio.datasets.paths import safe_join
from asmnet_studio.datasets.store.checks import (check_points, check_visibility, inspect_image, parse_statuses,
                                                 sha256_file)
from asmnet_studio.datasets.store.connection import APPLICATION_ID, DEFAULT_TIMEOUT_S
from asmnet_studio.datasets.store.migrations import MIGRATIONS, SCHEMA_VERSION
from asmnet_studio.datasets.store.records import (ACCEPTED_SOURCES, BOX_SOURCES, POSE_SOURCES, SOURCES, STATUSES,
                                                  Annotation, ImageRecord, ImportReport, ModelRecord, NotFoundError,
                                                  PredictionRow, ProgressCallback)
from asmnet_studio.datasets.store.workspace import Workspace

__all__ = [
    "ACCEPTED_SOURCES", "APPLICATION_ID", "BOX_SOURCES", "DEFAULT_TIMEOUT_S", "MIGRATIONS", "POSE_SOURCES",
    "SCHEMA_VERSION", "SOURCES", "STATUSES", "Annotation", "ImageRecord", "ImportReport", "ModelRecord",
    "NotFoundError", "PredictionRow", "ProgressCallback", "Workspace", "check_points", "check_visibility",
    "inspect_image", "parse_statuses", "safe_join", "sha256_file",
]
