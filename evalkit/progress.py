"""Progress of a run's stages: a tqdm bar on a terminal; elsewhere (CI logs, pipes, files) a plain line on stderr
every 10% of the work or every 30 s, whichever comes first, and one at the end.

``progress(iterable=None, **kw)`` takes tqdm's arguments (``total``, ``desc``, ``unit``, ...) and returns an
object with tqdm's ``update``/``close``/iteration, so callers do not care which they got.
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any

EVERY_FRACTION = 0.10
EVERY_S = 30.0


def _terminal_columns() -> int | None:
    try:
        return os.get_terminal_size(sys.stderr.fileno()).columns
    except (OSError, ValueError, AttributeError):
        return None


def _is_terminal() -> bool:
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


class LineProgress:
    """tqdm's interface, printing ``desc: n/total (p%) rate unit/s, elapsed`` lines instead of a bar."""

    def __init__(self, iterable: Any = None, *, total: int | None = None, desc: str = "", unit: str = "it",
                 every_fraction: float = EVERY_FRACTION, every_s: float = EVERY_S, file: Any = None,
                 clock: Any = time.monotonic, **_: Any) -> None:
        self.iterable = iterable
        if total is None and iterable is not None and hasattr(iterable, "__len__"):
            total = len(iterable)
        self.total, self.desc, self.unit = total, desc, unit
        self.every_fraction, self.every_s = every_fraction, every_s
        self.file = file
        self.clock = clock
        self.n = 0
        self.start = self.last_t = clock()
        self.last_n = 0
        self.closed = False

    def _line(self) -> str:
        elapsed = self.clock() - self.start
        rate = f", {self.n / elapsed:.1f} {self.unit}/s" if elapsed > 0 and self.n else ""
        if self.total:
            done = f"{self.n}/{self.total} {self.unit} ({100 * self.n / self.total:.0f}%)"
        else:
            done = f"{self.n} {self.unit}"
        return f"{self.desc + ': ' if self.desc else ''}{done}{rate}, {elapsed:.0f} s"

    def _print(self) -> None:
        f = self.file or sys.stderr
        f.write(self._line() + "\n")  # one write: a line of another thread's cannot land inside it
        f.flush()
        self.last_t, self.last_n = self.clock(), self.n

    def update(self, n: int = 1) -> None:
        self.n += n
        now = self.clock()
        step = self.total * self.every_fraction if self.total else None
        if (step and self.n - self.last_n >= step and self.n < self.total) or now - self.last_t >= self.every_s:
            self._print()

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            if self.n != self.last_n or self.n == 0:
                self._print()

    def __iter__(self) -> Any:
        for x in self.iterable:
            yield x
            self.update(1)
        self.close()

    def __enter__(self) -> LineProgress:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def set_postfix(self, *a: Any, **kw: Any) -> None:
        pass

    def set_description(self, desc: str | None = None, refresh: bool = True) -> None:
        self.desc = desc or ""

    def refresh(self) -> None:
        pass


def progress(iterable: Any = None, **kw: Any) -> Any:
    """A tqdm bar on a terminal, else ``LineProgress`` (``disable=True`` turns both off)."""
    if kw.get("disable") is True:
        from tqdm.auto import tqdm

        return tqdm(iterable, **kw)
    if not _is_terminal():
        return LineProgress(iterable, **kw)
    from tqdm.auto import tqdm

    kw.setdefault("dynamic_ncols", True)
    kw.setdefault("disable", None)
    if _terminal_columns() == 0:  # a terminal that reports no width (some CI consoles): a fixed width, not none
        kw.update(dynamic_ncols=False, ncols=80)
    return tqdm(iterable, **kw)
