"""Run files that survive a kill: append-only journals with fsync, and atomic replacement of final files.

A run directory holds:
  manifest.json        what the run is (model, tasks, generation and sandbox settings); checked on --resume
  generations.jsonl    journal: one line per generated sample, appended as batches finish
  executions.jsonl     journal: one line per verdict, appended as samples finish
  samples.jsonl        final: one line per sample, sorted (task, problem order, sample_idx)
  results.json         final: per-task pass@k with confidence intervals and provenance
  evalkit.lock         while a process uses the run: its pid (a second process refuses; a dead pid's lock is taken over)
Every file is created with mode 0666 minus the umask (0644 with the usual umask 022).
A line cut short by a kill is dropped (and trimmed off the file) when the journal is reopened.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from evalkit.errors import UserError


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    """Replace ``path`` with ``text`` at once (fsynced); the file gets 0666 minus the umask, like the journals."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o666 & ~_umask())  # mkstemp makes 0600
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    _fsync_dir(path.parent)


def _fsync_dir(d: Path) -> None:
    try:
        fd = os.open(d, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write_json(path: str | os.PathLike[str], obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, ensure_ascii=False) + "\n")


def write_jsonl(path: str | os.PathLike[str], rows: Iterable[dict]) -> None:
    atomic_write_text(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))


class Journal:
    """An append-only JSONL file. Each record is one ``write`` of a whole line on an O_APPEND descriptor."""

    def __init__(self, path: str | os.PathLike[str], sync_every_s: float = 0.2) -> None:
        self.path = Path(path)
        self._trim_torn_tail()
        self.fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
        self.sync_every_s = sync_every_s
        self._last_sync = time.monotonic()
        self._dirty = False

    def _trim_torn_tail(self) -> None:
        if not self.path.exists():
            return
        with open(self.path, "rb+") as f:
            data = f.read()
            if data and not data.endswith(b"\n"):
                f.truncate(data.rfind(b"\n") + 1)

    def records(self) -> Iterator[dict]:
        yield from read_journal(self.path)

    def append(self, record: dict) -> None:
        os.write(self.fd, (json.dumps(record, ensure_ascii=False) + "\n").encode())
        self._dirty = True
        if time.monotonic() - self._last_sync >= self.sync_every_s:
            self.sync()

    def sync(self) -> None:
        if self._dirty:
            os.fsync(self.fd)
            self._dirty = False
        self._last_sync = time.monotonic()

    def close(self) -> None:
        if self.fd >= 0:
            self.sync()
            os.close(self.fd)
            self.fd = -1


def read_journal(path: str | os.PathLike[str]) -> Iterator[dict]:
    """Records of a journal; a torn or malformed line (a kill mid-write) is skipped."""
    try:
        f = open(path, encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return
    with f:
        for line in f:
            if not line.endswith("\n"):
                break
            try:
                yield json.loads(line)
            except json.JSONDecodeError:
                continue


LOCK = "evalkit.lock"  # in a run directory: "PID START_TIME" of the evalkit process using it


def _start_time(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (tells a live pid from a reused one), None if gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            return ""
        return ""
    return stat[stat.rindex(")") + 2:].split()[19]


def lock_holder(directory: Path) -> int | None:
    """The pid of another live evalkit process that holds ``directory``'s lock, else None (no lock, or stale)."""
    try:
        pid_s, _, start = (directory / LOCK).read_text().strip().partition(" ")
        pid = int(pid_s)
    except (OSError, ValueError):
        return None
    if pid == os.getpid():
        return None
    now = _start_time(pid)
    if now is None or (start and now and now != start):
        return None  # the process is gone (or its pid was reused): a stale lock
    return pid


def check_lock(directory: Path) -> None:
    pid = lock_holder(directory)
    if pid is not None:
        raise UserError(f"{directory} is in use by evalkit process {pid}; wait for it to finish (or, if no "
                        f"such process runs, remove {directory / LOCK})")


class RunLock:
    """A lock file holding this process's pid; a second process refuses, a stale lock (dead pid) is taken over."""

    def __init__(self, directory: Path) -> None:
        self.path = directory / LOCK
        me = f"{os.getpid()} {_start_time(os.getpid()) or ''}\n"
        for _ in range(3):
            tmp = directory / f".{LOCK}.{os.getpid()}"
            tmp.write_text(me)
            try:
                os.link(tmp, self.path)  # atomic: fails if a lock exists
                return
            except FileExistsError:
                check_lock(directory)
                try:
                    os.unlink(self.path)  # stale: take it over
                except FileNotFoundError:
                    pass
            finally:
                tmp.unlink(missing_ok=True)
        check_lock(directory)
        raise UserError(f"cannot lock {directory}: another process keeps taking {self.path}")

    def release(self) -> None:
        try:
            if self.path.read_text().split(" ")[0] == str(os.getpid()):
                self.path.unlink()
        except (OSError, ValueError):
            pass


class RunStore:
    """The files of one run directory, locked against a second evalkit process while open."""

    def __init__(self, directory: str | os.PathLike[str], manifest: dict, resume: bool) -> None:
        self.dir = Path(directory)
        mpath = self.dir / "manifest.json"
        if mpath.exists():
            if not resume:
                raise UserError(f"{self.dir} already holds a run: pass --resume to continue it, or another --output-dir")
            try:
                old = json.loads(mpath.read_text(encoding="utf-8"))
            except (OSError, json.JSONDecodeError) as e:
                raise UserError(f"{mpath}: unreadable manifest ({e})") from None
            if old.get("fingerprint") != manifest.get("fingerprint"):
                from evalkit.manifest_diff import differences

                diff = "; ".join(differences(old, manifest)) or "model, tasks or generation parameters"
                raise UserError(f"{self.dir} was made with other settings: {diff}; --resume needs the same command")
            self.lock = RunLock(self.dir)
            self.manifest = old
        else:
            try:
                self.dir.mkdir(parents=True, exist_ok=True)
            except OSError as e:
                raise UserError(f"cannot create output directory {self.dir}: {e.strerror}") from None
            self.lock = RunLock(self.dir)
            atomic_write_json(mpath, manifest)
            self.manifest = manifest
        self.generations = Journal(self.dir / "generations.jsonl")
        self.executions = Journal(self.dir / "executions.jsonl")

    def close(self) -> None:
        self.generations.close()
        self.executions.close()
        self.lock.release()
