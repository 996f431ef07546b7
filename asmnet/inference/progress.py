"""Progress of long work on a terminal or in a log: ``reporter(desc)`` -> (update(done, total), close).

On a terminal a tqdm bar redraws in place; when the stream is not a terminal (a pipe, a log file, a
service), plain lines are printed instead, ``desc: done/total (percent)``, at the start, at most every
``every_s`` seconds, and at the end, so a log shows how far the work got without carriage-return noise.
"""
from __future__ import annotations

import sys
import time
from typing import Callable, TextIO


def reporter(desc: str, *, unit: str = "image", stream: TextIO | None = None, enabled: bool = True,
             every_s: float = 10.0) -> tuple[Callable[[int, int], None] | None, Callable[[], None]]:
    """(update(done, total), close) for ``desc``; (None, no-op) when not ``enabled``."""
    if not enabled:
        return None, lambda: None
    stream = stream or sys.stderr
    if getattr(stream, "isatty", lambda: False)():
        from tqdm import tqdm

        bar = tqdm(total=0, unit=unit, desc=desc, file=stream, leave=True)

        def update_bar(done: int, total: int) -> None:
            bar.total = total
            bar.update(done - bar.n)

        return update_bar, bar.close
    last = {"t": None, "done": None}

    def update_lines(done: int, total: int) -> None:
        now = time.monotonic()
        if last["t"] is None or done >= total or now - last["t"] >= every_s:
            if done == last["done"]:
                return
            pct = f" ({100 * done / total:.0f} %)" if total else ""
            print(f"{desc}: {done}/{total} {unit}s{pct}", file=stream, flush=True)
            last["t"], last["done"] = now, done

    return update_lines, lambda: None
