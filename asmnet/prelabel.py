"""Batch pre-labelling on every core: decode + detect in a thread pool while the network runs.

    from asmnet.predictor import Predictor
    from asmnet.prelabel import prelabel_images

    predictor = Predictor.default()
    preds = prelabel_images(predictor, paths, boxes=None, batch_size=32, workers=2,
                            progress=lambda done, total: print(done, total))

The pipeline: ``workers`` threads decode the images (``datasets.images.load_image``) and, where no box is
given, find the face (``Predictor.face_box``: the detector, else the whole image); the calling thread
collects them in input order, ``batch_size`` at a time, and runs ``Predictor.predict_batch`` on each batch
(crop, network, mirrored pass, confidence, uncertainty) while the pool already decodes the next ones.
Decoding (Pillow), detection (OpenCV / dlib) and the network (PyTorch / onnxruntime) all release the GIL,
so threads overlap them on separate cores; at most ``prefetch`` batches are decoded ahead (bounded memory).
The results are exactly those of ``predictor.predict_batch(images, boxes)`` on the same inputs.
"""
from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from datasets.errors import ImageError

ON_ERROR = ("raise", "skip")


def empty_prediction(box=None, error: str | None = None):
    """The "no face" result: a ``Prediction`` with (0, 2) points (``extras["error"]`` says why)."""
    from asmnet.predictor import Prediction

    b = np.full(4, np.nan, np.float32) if box is None else np.asarray(box, np.float32).reshape(4)
    return Prediction(points=np.zeros((0, 2), np.float32), pose=np.full(3, np.nan, np.float32),
                      confidence=np.zeros(0, np.float32), box=b, uncertainty=float("inf"),
                      extras={} if error is None else {"error": error})


def _load(item: Any, index: int) -> np.ndarray:
    if isinstance(item, np.ndarray):
        return item
    if isinstance(item, (str, os.PathLike)):
        from datasets.images import load_image

        return load_image(Path(item))
    raise ValueError(f"item {index}: expected an image path or an (H, W, 3) uint8 array, found {type(item).__name__}")


def prelabel_images(predictor, paths_or_images: Sequence[Any], boxes: Sequence | None = None, *,
                    batch_size: int = 32, workers: int = 2, progress: Callable[[int, int], None] | None = None,
                    on_error: str = "raise", prefetch: int = 2) -> list:
    """Predict one face per image for many images, decoding in parallel with inference.

    Args:
        predictor: an ``asmnet.predictor.Predictor`` (any backend, see ``asmnet.fast``).
        paths_or_images: image files (str / Path) or (H, W, 3) uint8 RGB arrays, mixed freely.
        boxes: None, or one face box (4,) x0, y0, x1, y1 pixels (or None = detect) per item.
        batch_size: faces per network call.
        workers: decode/detect threads (0 = decode in the calling thread, no pipeline).
        progress: ``progress(done, total)`` after each batch.
        on_error: ``"raise"`` (an unreadable image raises its ``ImageError``) or ``"skip"`` (its slot gets
            ``empty_prediction`` with ``extras["error"]`` naming the file and reason).
        prefetch: how many batches the pool may decode ahead of the network.
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
    prefetch = max(1, int(prefetch))

    def prepare(i: int) -> tuple[np.ndarray | None, np.ndarray | None, str | None]:
        """(image, box, error) for item i: decode, and detect when no box was given."""
        try:
            img = _load(paths_or_images[i], i)
        except (ImageError, OSError) as exc:
            if on_error == "raise":
                raise
            return None, None, str(exc)
        b = None if boxes is None else boxes[i]
        if b is None and img.dtype == np.uint8 and img.ndim in (2, 3):
            b = predictor.face_box(img)  # predict_batch checks the image itself (ValueError)
        return img, None if b is None else np.asarray(b, np.float32), None

    results: list = [None] * n
    done = 0
    starts = list(range(0, n, batch_size))

    def run_batch(start: int, prepared: list[tuple[np.ndarray | None, np.ndarray | None, str | None]]) -> None:
        nonlocal done
        ok = [j for j, (img, _, err) in enumerate(prepared) if err is None]
        for j, (_, b, err) in enumerate(prepared):
            if err is not None:
                results[start + j] = empty_prediction(b, err)
        if ok:
            preds = predictor.predict_batch([prepared[j][0] for j in ok], [prepared[j][1] for j in ok],
                                            batch_size=batch_size)
            for j, p in zip(ok, preds):
                results[start + j] = p
        done += len(prepared)
        if progress is not None:
            progress(done, n)

    if workers == 0:
        for start in starts:
            run_batch(start, [prepare(i) for i in range(start, min(start + batch_size, n))])
        return results

    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="prelabel") as pool:
        pending: list[tuple[int, list]] = []
        nxt = 0
        try:
            for _ in range(min(prefetch, len(starts))):
                s = starts[nxt]
                pending.append((s, [pool.submit(prepare, i) for i in range(s, min(s + batch_size, n))]))
                nxt += 1
            while pending:
                start, futures = pending.pop(0)
                prepared = [f.result() for f in futures]
                if nxt < len(starts):  # keep the pool busy while the network runs on this batch
                    s = starts[nxt]
                    pending.append((s, [pool.submit(prepare, i) for i in range(s, min(s + batch_size, n))]))
                    nxt += 1
                run_batch(start, prepared)
        except BaseException:
            for _, futures in pending:
                for f in futures:
                    f.cancel()
            raise
    return results
