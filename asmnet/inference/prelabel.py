"""Batch pre-labelling on every core: decode + detect in a worker pool while the network runs.

    from asmnet.inference.predictor import Predictor
    from asmnet.inference.prelabel import prelabel_faces, prelabel_images

    predictor = Predictor.default(fast=True)
    faces = prelabel_faces(predictor, paths, boxes=None, batch_size=32, workers=2,
                           progress=lambda done, total: print(done, total),
                           on_batch=lambda indices, faces: store(indices, faces))
    preds = prelabel_images(predictor, paths)          # one face per image: the largest

The pipeline: ``workers`` pool workers decode the images (``asmnet_studio.datasets.images.load_image``) and, where no
box is given, find every face (``asmnet.inference.detect.face_boxes``); the calling thread takes them in input
order, ``batch_size`` images at a time, and runs the network on every face of the batch (crop, network on
the face and its mirror, confidence, uncertainty; a detected face's box is refined by the model itself,
``asmnet.inference.refine.predict_refined``) while the pool already prepares the next ``prefetch`` batches (bounded
memory). An image where no face is found gets no prediction (``prelabel_faces``: an empty list;
``prelabel_images``: ``empty_prediction`` with ``extras["error"] == NO_FACE``): nothing is guessed.

Pool kind (``pool``): threads overlap everything that releases the GIL (Pillow decoding, OpenCV, PyTorch,
onnxruntime); dlib's HOG detector holds the GIL, so ``"auto"`` uses worker *processes* (spawned, not
forked: the parent's PyTorch / OpenMP threads do not survive a fork) when detection is needed and dlib is
the detector here, threads otherwise (a script that ends up with processes must keep its top-level code
under ``if __name__ == "__main__":``, as ``multiprocessing``'s spawn start needs). The results equal
``predictor.predict_batch(images, boxes)`` on the same inputs when every box is given.
"""
from __future__ import annotations

import os
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from asmnet_studio.datasets.errors import ImageError

ON_ERROR = ("raise", "skip")
POOLS = ("auto", "thread", "process")
#: ``extras["error"]`` of an image where the detector found no face
NO_FACE = "no face found"
#: faces after the largest must score at least this (MTCNN's O-net probability) to be pre-labelled: the
#: largest face is what a photo is usually about; further detections are more often false alarms
EXTRA_FACE_MIN_SCORE = 0.9


def empty_prediction(box=None, error: str | None = None):
    """The "no face" result: a ``Prediction`` with (0, 2) points (``extras["error"]`` says why)."""
    from asmnet.inference.predictor import Prediction

    b = np.full(4, np.nan, np.float32) if box is None else np.asarray(box, np.float32).reshape(4)
    return Prediction(points=np.zeros((0, 2), np.float32), pose=np.full(3, np.nan, np.float32),
                      confidence=np.zeros(0, np.float32), box=b, uncertainty=float("inf"),
                      extras={} if error is None else {"error": error})


def detected_faces(image: np.ndarray, max_faces: int | None = None) -> np.ndarray:
    """(F, 4) float32 landmark boxes of the faces to pre-label in ``image``: the largest face the detector
    finds, then the others scoring at least ``EXTRA_FACE_MIN_SCORE`` (at most ``max_faces`` in all);
    (0, 4) when none is found."""
    from asmnet.inference.detect import DETECTION_TO_FACE, detect_faces_scored, detector_name, face_box_from_detection

    backend = detector_name()
    boxes, scores = detect_faces_scored(image, backend=backend)
    keep = [i for i in range(len(boxes)) if i == 0 or scores[i] >= EXTRA_FACE_MIN_SCORE]
    keep = keep[:max_faces] if max_faces is not None else keep
    if not keep or backend not in DETECTION_TO_FACE:
        return np.zeros((0, 4), np.float32)
    return np.stack([face_box_from_detection(boxes[i], backend) for i in keep]).astype(np.float32)


def _prepare(item: Any, box: Any, index: int, max_faces: int | None = None,
             detect: Callable[[np.ndarray], np.ndarray] | None = None) -> tuple[Any, Any, str | None, str | None]:
    """(image, boxes (F, 4) or None, error reason, error path) for one item: decode, and detect every face
    when ``box`` is None (F may be 0); a given box is returned as (1, 4).

    Runs in a pool worker (thread or process): no predictor object is needed.
    """
    try:
        if isinstance(item, np.ndarray):
            img = item
        elif isinstance(item, (str, os.PathLike)):
            from asmnet_studio.datasets.images import load_image

            img = load_image(Path(item))
        else:
            raise ValueError(f"item {index}: expected an image path or an (H, W, 3) uint8 array, "
                             f"found {type(item).__name__}")
    except ImageError as exc:
        return None, None, exc.reason, exc.path
    except OSError as exc:
        return None, None, str(exc), str(item)
    if box is not None:
        return img, np.asarray(box, np.float32).reshape(1, 4), None, None
    if img.dtype == np.uint8 and img.ndim in (2, 3):
        if detect is None:
            return img, detected_faces(img, max_faces), None, None
        found = np.asarray(detect(img), np.float32).reshape(-1, 4)
        return img, found[:max_faces] if max_faces is not None else found, None, None
    return img, None, None, None  # predict_batch names the bad array


def _needs_processes(boxes: Sequence | None, n: int) -> bool:
    if n == 0 or (boxes is not None and all(b is not None for b in boxes)):
        return False
    from asmnet.inference.detect import detector_name

    return detector_name() == "dlib-hog"  # dlib's detector holds the GIL


def prelabel_images(predictor, paths_or_images: Sequence[Any], boxes: Sequence | None = None, *,
                    batch_size: int = 32, workers: int = 2, progress: Callable[[int, int], None] | None = None,
                    on_batch: Callable[[list[int], list], None] | None = None, on_error: str = "raise",
                    pool: str = "auto", prefetch: int = 2, refine: int | None = None,
                    detect: Callable[[np.ndarray], np.ndarray] | None = None) -> list:
    """Predict one face per image for many images: the given box, else the largest face found.

    Same arguments as ``prelabel_faces``. Returns one ``Prediction`` per item, in input order; an item
    where no face is found gets ``empty_prediction`` with ``extras["error"] == NO_FACE`` ((0, 2) points).
    ``on_batch(indices, predictions)`` receives one prediction per item as well.
    """
    def first(faces: list):
        return faces[0] if faces else empty_prediction(error=NO_FACE)

    adapter = None if on_batch is None else (lambda idx, faces: on_batch(idx, [first(f) for f in faces]))
    out = prelabel_faces(predictor, paths_or_images, boxes, batch_size=batch_size, workers=workers,
                         progress=progress, on_batch=adapter, on_error=on_error, pool=pool, prefetch=prefetch,
                         refine=refine, max_faces=1, detect=detect)
    return [first(f) for f in out]


def prelabel_faces(predictor, paths_or_images: Sequence[Any], boxes: Sequence | None = None, *,
                    batch_size: int = 32, workers: int = 2, progress: Callable[[int, int], None] | None = None,
                    on_batch: Callable[[list[int], list], None] | None = None, on_error: str = "raise",
                    pool: str = "auto", prefetch: int = 2, refine: int | None = None,
                    max_faces: int | None = None, detect: Callable[[np.ndarray], np.ndarray] | None = None
                    ) -> list[list]:
    """Predict every face of many images, decoding and detecting in parallel with inference.

    Args:
        predictor: an ``asmnet.inference.predictor.Predictor`` (any backend, see ``asmnet.inference.fast``).
        paths_or_images: image files (str / Path) or (H, W, 3) uint8 RGB arrays, mixed freely.
        boxes: None, or one face box (4,) x0, y0, x1, y1 pixels (or None = detect) per item.
        batch_size: images per batch (and faces per network call).
        workers: pool workers for decoding / detection (0 = all in the calling thread, no pipeline).
        progress: ``progress(done, total)`` after each batch.
        on_batch: ``on_batch(indices, faces)`` after each batch, in input order, before ``progress``
            (e.g. store the predictions as they come, so an interrupted run keeps what it finished).
        on_error: ``"raise"`` (an unreadable image raises its ``ImageError``) or ``"skip"`` (its slot gets
            ``[empty_prediction]`` with ``extras["error"]`` naming the file and reason).
        pool: ``"thread"``, ``"process"`` or ``"auto"`` (see the module docstring).
        prefetch: how many batches the pool may prepare ahead of the network.
        refine: network passes for a *detected* face (``asmnet.inference.refine``; default ``REFINE_PASSES``); a
            given box is used as it is (one pass).
        max_faces: pre-label at most this many faces per image (largest first; default: all found).
        detect: image (H, W, 3) uint8 -> (F, 4) landmark boxes, largest first (default ``detected_faces``:
            the bundled detector); it must be picklable for a process pool.
    Returns:
        Per item, in input order, a list of ``Prediction`` (largest face first; empty when no face is found).
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
    from asmnet.inference.refine import REFINE_PASSES, predict_refined

    passes = REFINE_PASSES if refine is None else int(refine)
    box_of = (lambda i: None) if boxes is None else (lambda i: boxes[i])

    results: list = [None] * n
    done = 0
    starts = list(range(0, n, batch_size))

    def run_batch(start: int, prepared: list[tuple[Any, Any, str | None, str | None]]) -> None:
        nonlocal done
        given, found = [], []  # (item j, face f, box): given boxes run once, detected ones are refined
        for j, (_, b, reason, path) in enumerate(prepared):
            results[start + j] = []
            if reason is not None:
                if on_error == "raise":
                    raise ImageError(path, reason)
                results[start + j] = [empty_prediction(None, f"{path}: {reason}")]
            elif b is None:
                given.append((j, 0, None))  # not an image: predict_batch raises naming it
            else:
                target = given if box_of(start + j) is not None else found
                target += [(j, f, bb) for f, bb in enumerate(b)]
        for faces, run in ((given, lambda ims, bs: predictor.predict_batch(ims, bs, batch_size=batch_size)),
                           (found, lambda ims, bs: predict_refined(predictor, ims, bs, passes=passes,
                                                                   batch_size=batch_size))):
            if faces:
                preds = run([prepared[j][0] for j, _, _ in faces], [bb for _, _, bb in faces])
                for (j, _, _), p in zip(faces, preds):
                    results[start + j].append(p)
        if on_batch is not None:
            idx = list(range(start, start + len(prepared)))
            on_batch(idx, [results[i] for i in idx])
        done += len(prepared)
        if progress is not None:
            progress(done, n)

    if workers == 0 or n == 0:
        for start in starts:
            run_batch(start, [_prepare(paths_or_images[i], box_of(i), i, max_faces, detect)
                              for i in range(start, min(start + batch_size, n))])
        return results

    use_processes = pool == "process" or (pool == "auto" and detect is None and _needs_processes(boxes, n))
    if use_processes:
        import multiprocessing as mp

        executor: Executor = ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn"))
    else:
        executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="prelabel")

    def submit(s: int) -> tuple[int, list]:
        return s, [executor.submit(_prepare, paths_or_images[i], box_of(i), i, max_faces, detect)
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
