"""ASMNet Studio's web app: the composition root (arguments -> store + predictor + shape model -> UI).

    python app.py [WORKSPACE.db] [--import DIR [--format NAME]] [--host HOST] [--port PORT]
                  [--author NAME] [--auth USER:PASSWORD] [--weights CHECKPOINT.pt]

Without WORKSPACE.db the built-in default workspace opens (created on first start in
``~/.local/share/asmnet-studio/default.db``, see ``asmnet_studio.annotator.samples``): public-domain faces that ship
inside installed packages, pre-labelled by the model. The server binds 127.0.0.1 unless ``--host`` says
otherwise; any other address requires ``--auth USER:PASSWORD`` (or ``ASMNET_AUTH``) and the app refuses
to start without it.

Importing this module builds nothing: tests call :func:`parse_args` and :func:`create_demo`; only
``python app.py`` launches a server.
"""
from __future__ import annotations

import argparse
import getpass
import logging
import os
import sys
from pathlib import Path

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

LOOPBACK = ("127.0.0.1", "localhost", "::1")
DEFAULT_PORT = 7860
log = logging.getLogger("asmnet.app")


def is_loopback(host: str) -> bool:
    """True for addresses only this machine can reach: 127.0.0.0/8 and ::1 literals, ``localhost``.
    A DNS name such as ``127.attacker.example`` is not one (see ``asmnet_studio.annotator.security.is_loopback``)."""
    from asmnet_studio.annotator.security import is_loopback as loopback

    return loopback(host)


def parse_auth(text: str | None) -> tuple[str, str] | None:
    """``"user:password"`` -> (user, password); None for None / empty. ValueError when malformed."""
    if not text:
        return None
    user, sep, password = text.partition(":")
    if not sep or not user or not password:
        raise ValueError("authentication must be given as USER:PASSWORD (both non-empty)")
    return user, password


def build_parser() -> argparse.ArgumentParser:
    from asmnet_studio.annotator.samples import default_workspace_path

    p = argparse.ArgumentParser(prog="python app.py", description=(
        "ASMNet Studio: correct and evaluate 68-point facial landmarks in the browser. Without WORKSPACE the "
        f"built-in sample workspace opens ({default_workspace_path()})."))
    p.add_argument("workspace", nargs="?", default=None, metavar="WORKSPACE.db",
                   help="workspace file (created when missing)")
    p.add_argument("--import", dest="import_dir", metavar="DIR",
                   help="import a dataset folder, or a plain folder of images (pre-labelled), into the workspace")
    p.add_argument("--format", metavar="NAME", default=None,
                   help="format of the --import folder: images (a plain folder of jpg/png/bmp/webp files; the "
                        "default) or a dataset format (e.g. pts, aflw2000, wflw, coco, csv)")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to bind (default 127.0.0.1: this machine only; others need --auth)")
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT})")
    p.add_argument("--author", default=None, help="name saved with your annotations (default: your login name)")
    p.add_argument("--auth", default=None, metavar="USER:PASSWORD",
                   help="require this login (also from the ASMNET_AUTH environment variable); "
                        "mandatory when --host is not a loopback address")
    p.add_argument("--weights", default=None, metavar="CHECKPOINT.pt",
                   help="model checkpoint (default: the one shipped in asmnet/weights)")
    return p


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse and check the arguments; exits with a message (status 2) when they cannot work, including
    a non-loopback ``--host`` without ``--auth`` / ``ASMNET_AUTH``."""
    parser = build_parser()
    args = parser.parse_args(argv)
    from asmnet_studio.datasets.formats.plain_images import NAME as IMAGES

    if args.format and not args.import_dir:
        parser.error("--format NAME goes with --import DIR")
    if args.import_dir:
        from asmnet_studio.datasets.formats import format_names

        args.format = args.format or IMAGES
        if args.format not in format_names() + [IMAGES]:
            parser.error(f"unknown --format {args.format!r}; choose one of {format_names() + [IMAGES]}")
    if not 0 < args.port < 65536:
        parser.error(f"--port must be 1..65535, found {args.port}")
    try:
        args.auth = parse_auth(args.auth or os.environ.get("ASMNET_AUTH"))
    except ValueError as exc:
        parser.error(str(exc))
    if not is_loopback(args.host) and args.auth is None:
        parser.error(f"refusing to serve on {args.host} without authentication: anyone who can reach this "
                     "address could read and change the workspace. Add --auth USER:PASSWORD (or set "
                     "ASMNET_AUTH), or keep the default --host 127.0.0.1.")
    args.author = args.author or os.environ.get("ASMNET_AUTHOR") or _login_name()
    return args


def _login_name() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no login name in some containers
        return "annotator"


def safe_detector():
    """Face boxes for the model: ``asmnet.inference.prelabel.detected_faces`` (the bundled detector's faces as
    landmark boxes, largest first), or a detector that finds nothing when it cannot run here."""
    try:
        from asmnet.inference.prelabel import detected_faces
    except Exception as exc:  # pragma: no cover - depends on the OpenCV build
        log.warning("face detector unavailable (%s); type face boxes by hand", exc)
        return None
    warned = []

    def detect(image):
        import numpy as np

        try:
            return np.asarray(detected_faces(image), np.float32).reshape(-1, 4)
        except Exception as exc:  # an OpenCV / onnxruntime build that cannot run the detector
            if not warned:
                log.warning("face detection failed (%s: %s); the model will use the whole image "
                            "unless you type a face box", type(exc).__name__, exc)
                warned.append(True)
            return np.zeros((0, 4), np.float32)

    return detect


def load_model(weights: str | None):
    """(predictor, checkpoint path) for ``--weights`` or the shipped default; the path is the predictor's
    ``checkpoint_path`` (absolute), the file the workspace's model registry records."""
    from asmnet.inference.predictor import Predictor

    # the fast CPU path (asmnet.inference.runtime, no torch): the float model's outputs
    p = Predictor.from_checkpoint(weights, backend="auto") if weights else Predictor.default(backend="auto")
    return p, str(p.checkpoint_path)


def create_services(args: argparse.Namespace, *, predictor=None, shape_model=None, checkpoint: str = "",
                    progress: bool = True):
    """Open (or create) the workspace, import / pre-label as asked, and bundle the services.

    ``predictor`` / ``shape_model`` default to the shipped model and the editor's shape model; ``checkpoint``
    defaults to the predictor's ``checkpoint_path`` (``asmnet.inference.predictor.LandmarkPredictor``).
    """
    from asmnet_studio.annotator import samples, session
    from asmnet_studio.datasets.schemas import get_schema
    from asmnet_studio.datasets.store import Workspace

    from asmnet_studio.datasets.formats.plain_images import NAME as IMAGES, find_images

    ds = None
    if args.import_dir:  # read first: a missing folder or a bad dataset creates no workspace file
        if args.format == IMAGES:
            find_images(args.import_dir)
        else:
            from asmnet_studio.datasets.formats import read_dataset

            ds = read_dataset(args.import_dir, args.format)
    if predictor is None:
        predictor, checkpoint = load_model(args.weights)
    elif not checkpoint and predictor.checkpoint_path is not None:
        checkpoint = str(Path(predictor.checkpoint_path).resolve())
    if shape_model is None:  # the editor's shape model (asmnet/weights/editor_shape_model68.npz), calibrated
        from asmnet.model.shape_prior import editor_shape_model

        shape_model = editor_shape_model(predictor.shape_model)
    path = Path(args.workspace) if args.workspace else samples.default_workspace_path()
    fresh_default = args.workspace is None and not path.exists()
    path.parent.mkdir(parents=True, exist_ok=True)
    store = Workspace(path)
    svc = session.Services(store=store, predictor=predictor, shape_model=shape_model, author=args.author,
                            detect=safe_detector(), upload_dir=path.parent / f"{path.stem}-images",
                            schema=getattr(predictor, "schema", None) or get_schema("ibug68"),
                            checkpoint=checkpoint)
    if fresh_default:
        samples.add_bundled_faces(store)
    if args.import_dir:
        update, close = _bar("importing", progress)
        try:
            if ds is None:
                report = store.import_images(args.import_dir, progress=update)
            else:
                report = store.import_dataset(ds, author=f"import ({args.author})", progress=update)
        finally:
            close()
        svc.import_report = _import_report(path, args.import_dir, report, ds)
    missing = sum(store.latest_prediction(r.id) is None and r.box_source != "not_found" for r in store.images())
    if missing:
        update, close = _bar("pre-labelling", progress, unit="face")
        try:
            session.prelabel_new_faces(svc, update)
        finally:
            close()
        no_face = [r.name for r in store.images() if r.box_source == "not_found"]
        if no_face:
            print(f"no face found in {len(no_face)} image(s); the app asks for a box there: "
                  f"{', '.join(no_face[:10])}{' ...' if len(no_face) > 10 else ''}")
    gone = sorted({r.name for r in store.images() if not r.path.is_file()})
    if gone:  # reported, never fatal: the queue marks them and offers to remove them
        print(f"{len(gone)} image file(s) missing (the queue marks them; remove them in the Queue tab or with "
              f"`asmnet remove {path} --missing`): {', '.join(gone[:10])}{' ...' if len(gone) > 10 else ''}")
    return svc


def _import_report(workspace: Path, folder: str, report, ds) -> Path | None:
    """Print the start-up import's report (the first 10 of each list) and, when there is anything to report,
    write all of it (skipped entries, reader problems, reader flags) to ``<workspace stem>-import-report.csv``
    beside the workspace (``asmnet.cli.import_.write_report``); returns that file (the page offers it for
    download), or None."""
    from asmnet.cli.import_ import print_report, reader_flags, write_report

    flags = reader_flags(ds, report)
    full = None
    if report.skipped or report.problems or flags:
        full = workspace.parent / f"{workspace.stem}-import-report.csv"
        write_report(full, report, flags)
    print(f"imported {folder}:", end=" ")
    print_report(report, limit=10, flags=flags, full=full)
    return full


def _bar(desc: str, enabled: bool, unit: str = "image"):
    """(update(done, total), close): a bar on a terminal, plain lines in a log (``asmnet.inference.progress``)."""
    from asmnet.inference.progress import reporter

    return reporter(desc, unit=unit, enabled=enabled)


def create_demo(args: argparse.Namespace, **kwargs):
    """(demo, services) for parsed ``args``; keyword arguments go to :func:`create_services`."""
    from asmnet_studio.annotator.ui import build_app

    svc = create_services(args, **kwargs)
    return build_app(svc), svc


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    for noisy in ("httpx", "httpcore", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    args = parse_args(argv)
    # a server, never a notebook: gradio imports IPython (~6 % of its import time here) only for notebook magics
    # and checks that each stand behind `except ImportError`
    sys.modules.setdefault("IPython", None)
    # nor a gradio development checkout: skip gradio rewriting its component stubs (.pyi) and compiling its
    # listener docstrings as templates at every import
    from asmnet_studio.annotator.gradio_startup import headless_matplotlib, skip_developer_work

    skip_developer_work()
    headless_matplotlib()  # the first event (the first face) no longer imports pyplot
    from asmnet_studio.annotator.ui import launch_options
    from asmnet_studio.datasets.errors import DataError

    try:
        demo, svc = create_demo(args)
    except (DataError, ValueError, FileNotFoundError) as exc:
        print(f"app.py: error: {exc}", file=sys.stderr)
        return 1
    n = len(svc.store.images())
    print(f"ASMNet Studio: workspace {svc.store.path} ({n} images), saving as {svc.author!r}")
    if args.auth:
        print(f"authentication required: user {args.auth[0]!r} (serving on {args.host}:{args.port})")
    else:
        print(f"serving on {args.host} only (this machine); to share on a network use --host 0.0.0.0 "
              "--auth USER:PASSWORD")
    demo.launch(**{**launch_options(), **server_options(args)})
    return 0


def server_options(args: argparse.Namespace) -> dict:
    """``demo.launch`` keywords for where and how to serve: the address, never a public share link (even with
    ``GRADIO_SHARE`` set in the environment), the login (throttled: ``asmnet_studio.annotator.security.LoginThrottle``),
    and the security middleware (nosniff everywhere; without a login, only loopback ``Host`` headers)."""
    from asmnet_studio.annotator.security import LoginThrottle, app_kwargs

    auth = None if args.auth is None else LoginThrottle(*args.auth)
    return {"server_name": args.host, "server_port": args.port, "share": False, "auth": auth,
            "auth_message": "ASMNet Studio: sign in" if args.auth else None,
            "app_kwargs": app_kwargs(args.host, args.auth)}


if __name__ == "__main__":
    sys.exit(main())
