"""Batch pre-labelling on every core: decode + detect in a worker pool while the network runs.

    from asmnet.predictor import Predictor
    from asmnet.prelabel import prelabel_images

    predictor = Predictor.default(fast=True)
    preds = prelabel_images(predictor, paths, boxes=None, batch_size=32, workers=2,
                            progress=lambda done, total: print(done, total),
                            on_batch=lambda indices, preds: store(indices, preds))

The pipeline: ``workers`` pool workers decode the images (``datasets.images.load_image``) and, where no
box is given, find the face (``face_box``: ``Predictor.face_box``'s rule, the bundled detector, else the
whole image); the calling thread takes them in input order, ``batch_size`` at a time, and runs
``Predictor.predict_batch`` on each batch (crop, network on the face and its mirror, confidence,
uncertainty) while the pool already prepares the next ``prefetch`` batches (bounded memory).

Pool kind (``pool``): threads overlap everything that releases the GIL (Pillow decoding, OpenCV, PyTorch,
onnxruntime); dlib's HOG detector holds the GIL, so ``"auto"`` uses worker *processes* (spawned, not
forked: the parent's PyTorch / OpenMP threads do not survive a fork) when detection is needed and dlib is
the detector here, threads otherwise (a script that ends up with processes must keep its top-level code
under ``if __name__ == "__main__":``, as ``multiprocessing``'s spawn start needs). The results equal ``predictor.predict_batch(images, boxes)`` on the
same inputs.
"""
from __future__ import annotations

import os
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from datasets.errors import ImageError

ON_ERROR = ("raise", "skip")
POOLS = ("auto", "thread", "process")


def empty_prediction(box=None, error: str | None = None):
    """The "no face" result: a ``Prediction`` with (0, 2) points (``extras["error"]`` says why)."""
    from asmnet.predictor import Prediction

    b = np.full(4, np.nan, np.float32) if box is None else np.asarray(box, np.float32).reshape(4)
    return Prediction(points=np.zeros((0, 2), np.float32), pose=np.full(3, np.nan, np.float32),
                      confidence=np.zeros(0, np.float32), box=b, uncertainty=float("inf"),
                      extras={} if error is None else {"error": error})


def face_box(image: np.ndarray, crop_margin: float) -> np.ndarray:
    """``Predictor.face_box`` without the predictor (no torch import in pool processes): the largest
    detected face's landmark-box estimate, else the centred square of side min(w, h) / crop_margin (4,)."""
    from asmnet.detect import detect_faces, face_box_from_detection

    boxes = detect_faces(image)
    if len(boxes):
        return face_box_from_detection(boxes[0])
    h, w = image.shape[:2]
    side = min(w, h) / crop_margin
    cx, cy = (w - 1) / 2, (h - 1) / 2
    return np.array([cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2], np.float32)


def _prepare(item: Any, box: Any, crop_margin: float, index: int) -> tuple[Any, Any, str | None, str | None]:
    """(image, box, error reason, error path) for one item: decode, and detect when ``box`` is None.

    Runs in a pool worker (thread or process): no predictor object is needed, only its crop margin.
    """
    try:
        if isinstance(item, np.ndarray):
            img = item
        elif isinstance(item, (str, os.PathLike)):
            from datasets.images import load_image

            img = load_image(Path(item))
        else:
            raise ValueError(f"item {index}: expected an image path or an (H, W, 3) uint8 array, "
                             f"found {type(item).__name__}")
    except ImageError as exc:
        return None, None, exc.reason, exc.path
    except OSError as exc:
        return None, None, str(exc), str(item)
    if box is None and img.dtype == np.uint8 and img.ndim in (2, 3):
        box = face_box(img, crop_margin)
    return img, None if box is None else np.asarray(box, np.float32), None, None


def _needs_processes(boxes: Sequence | None, n: int) -> bool:
    if n == 0 or (boxes is not None and all(b is not None for b in boxes)):
        return False
    from asmnet.detect import detector_name

    return detector_name() == "dlib-hog"  # dlib's detector holds the GIL


def prelabel_images(predictor, paths_or_images: Sequence[Any], boxes: Sequence | None = None, *,
                    batch_size: int = 32, workers: int = 2, progress: Callable[[int, int], None] | None = None,
                    on_batch: Callable[[list[int], list], None] | None = None, on_error: str = "raise",
                    pool: str = "auto", prefetch: int = 2) -> list:
    """Predict one face per image for many images, decoding and detecting in parallel with inference.

    Args:
        predictor: an ``asmnet.predictor.Predictor`` (any backend, see ``asmnet.fast``).
        paths_or_images: image files (str / Path) or (H, W, 3) uint8 RGB arrays, mixed freely.
        boxes: None, or one face box (4,) x0, y0, x1, y1 pixels (or None = detect) per item.
        batch_size: faces per network call.
        workers: pool workers for decoding / detection (0 = all in the calling thread, no pipeline).
        progress: ``progress(done, total)`` after each batch.
        on_batch: ``on_batch(indices, predictions)`` after each batch, in input order, before ``progress``
            (e.g. store the predictions as they come, so an interrupted run keeps what it finished).
        on_error: ``"raise"`` (an unreadable image raises its ``ImageError``) or ``"skip"`` (its slot gets
            ``empty_prediction`` with ``extras["error"]`` naming the file and reason).
        pool: ``"thread"``, ``"process"`` or ``"auto"`` (see the module docstring).
        prefetch: how many batches the pool may prepare ahead of the network.
    Returns:
        One ``Prediction`` per item, in input order.
    """
    n = len(paths_or_images)
    if boxes is not None and len(boxes) != n:
        raise ValueError(f"got {n} images but {len(boxes)} boxes")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, found {batch_size}")
    if workers < 0:
        raise ValueError(f"workers must be >= 0, found {workers}")
    if on_error not in ON_ERROR:
        raise ValueError(f"unknown on_error {on_error!r}; choose one of {list(ON_ERROR)}")
    if pool not in POOLS:
        raise ValueError(f"unknown pool {pool!r}; choose one of {list(POOLS)}")
    prefetch = max(1, int(prefetch))
    margin = float(predictor.crop_margin)
    box_of = (lambda i: None) if boxes is None else (lambda i: boxes[i])

    results: list = [None] * n
    done = 0
    starts = list(range(0, n, batch_size))

    def run_batch(start: int, prepared: list[tuple[Any, Any, str | None, str | None]]) -> None:
        nonlocal done
        ok = []
        for j, (_, b, reason, path) in enumerate(prepared):
            if reason is None:
                ok.append(j)
            elif on_error == "raise":
                raise ImageError(path, reason)
            else:
                results[start + j] = empty_prediction(b, f"{path}: {reason}")
        if ok:
            preds = predictor.predict_batch([prepared[j][0] for j in ok], [prepared[j][1] for j in ok],
                                            batch_size=batch_size)
            for j, p in zip(ok, preds):
                results[start + j] = p
        if on_batch is not None:
            idx = list(range(start, start + len(prepared)))
            on_batch(idx, [results[i] for i in idx])
        done += len(prepared)
        if progress is not None:
            progress(done, n)

    if workers == 0 or n == 0:
        for start in starts:
            run_batch(start, [_prepare(paths_or_images[i], box_of(i), margin, i)
                              for i in range(start, min(start + batch_size, n))])
        return results

    use_processes = pool == "process" or (pool == "auto" and _needs_processes(boxes, n))
    if use_processes:
        import multiprocessing as mp

        executor: Executor = ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn"))
    else:
        executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="prelabel")

    def submit(s: int) -> tuple[int, list]:
        return s, [executor.submit(_prepare, paths_or_images[i], box_of(i), margin, i)
                   for i in range(s, min(s + batch_size, n))]

    pending: list[tuple[int, list]] = []
    try:
        nxt = 0
        while nxt < min(prefetch, len(starts)):
            pending.append(submit(starts[nxt]))
            nxt += 1
        while pending:
            start, futures = pending.pop(0)
            prepared = [f.result() for f in futures]
            if nxt < len(starts):  # keep the pool busy while the network runs on this batch
                pending.append(submit(starts[nxt]))
                nxt += 1
            run_batch(start, prepared)
    finally:
        for _, futures in pending:
            for f in futures:
                f.cancel()
        executor.shutdown(wait=True, cancel_futures=True)
    return results
