"""Local benchmark files: where they are (``--data-dir`` / ``$EVALKIT_DATA_DIR``) and reading them safely.

Every problem with a data folder or a data file is one line on stderr and exit code 2: a folder that does not
exist or is empty, a file a task needs that is not there (named), a truncated or malformed JSON line, a file that
is not gzip or is cut short, a record without a field the task needs (file and line named).
"""

from __future__ import annotations

import gzip
import json
import os
import zlib
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from evalkit.errors import UserError


def check_data_dir(path: str | os.PathLike[str], origin: str = "--data-dir") -> Path:
    """The data folder (or a single data file), or one clear error if it does not exist or is empty."""
    p = Path(os.path.abspath(Path(path).expanduser()))  # recorded as dataset_source: the same from any cwd
    if p.is_file():
        return p
    if not p.exists():
        raise UserError(f"{origin} {path}: no such directory")
    if not p.is_dir():
        raise UserError(f"{origin} {path}: not a directory")
    try:
        empty = next(p.iterdir(), None) is None
    except OSError as e:
        raise UserError(f"{origin} {path}: cannot read ({e.strerror})") from None
    if empty:
        raise UserError(f"{origin} {path} is empty: it should hold mbpp/mbpp.jsonl, mbpp/sanitized-mbpp.json, "
                        "humaneval-infilling/HumanEval-*.jsonl.gz (see README: Data)")
    return p


def find_data_file(d: Path, candidates: Sequence[str], task: str) -> Path:
    """The first of ``d/<candidate>`` that exists, else an error naming the file the task needs."""
    if d.is_file():
        if d.name in {Path(c).name for c in candidates}:
            return d
        raise UserError(f"{task}: data file {d} is not {Path(candidates[0]).name}")
    for c in candidates:
        if (d / c).is_file():
            return d / c
    raise UserError(f"{task}: {d} has no {candidates[0]} (the data folder lacks this task's file; "
                    "see README: Data)")


def _open_text(path: Path) -> str:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise UserError(f"data file not found: {path}") from None
    except OSError as e:
        raise UserError(f"{path}: cannot read ({e.strerror})") from None
    if path.name.endswith(".gz"):
        try:
            raw = gzip.decompress(raw)
        except gzip.BadGzipFile:
            raise UserError(f"{path}: not a gzip file") from None
        except EOFError:
            raise UserError(f"{path}: gzip data cut short (truncated file?)") from None
        except (OSError, zlib.error) as e:
            raise UserError(f"{path}: corrupt gzip data ({e})") from None
    return decode_utf8(path, raw)


def decode_utf8(path: Path, raw: bytes) -> str:
    """``raw`` as text, or one error naming the file and the line of the first byte that is not UTF-8."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        raise UserError(f"{path}:{line}: not valid UTF-8") from None


def _check_fields(path: Path, where: str, row: Any, fields: Iterable[str]) -> None:
    """``where``: ":LINE" of a JSONL file, or " record N" of a JSON list."""
    if not isinstance(row, dict):
        raise UserError(f"{path}{where}: expected a JSON object")
    for f in fields:
        if f not in row:
            tid = f" (task_id {row['task_id']})" if "task_id" in row else ""
            what = f"{where}: record{tid}" if where.startswith(":") else f"{where}{tid}"
            raise UserError(f"{path}{what} has no field {f!r}")


def read_jsonl(path: str | os.PathLike[str], fields: Sequence[str] = ()) -> list[dict]:
    """Rows of a ``.jsonl`` or ``.jsonl.gz`` file, each checked to have ``fields``."""
    path = Path(path)
    rows = []
    for lineno, line in enumerate(_open_text(path).splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            raise UserError(f"{path}:{lineno}: malformed JSON ({e.msg}; truncated file?)") from None
        _check_fields(path, f":{lineno}", row, fields)
        rows.append(row)
    if not rows:
        raise UserError(f"{path}: no records")
    return rows


def read_json_list(path: str | os.PathLike[str], fields: Sequence[str] = ()) -> list[dict]:
    """Rows of a ``.json`` file holding a list of records, each checked to have ``fields``."""
    path = Path(path)
    text = _open_text(path)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise UserError(f"{path}:{e.lineno}: malformed JSON ({e.msg}; truncated file?)") from None
    if not isinstance(data, list) or not data:
        raise UserError(f"{path}: expected a non-empty JSON list of records")
    for i, row in enumerate(data):
        _check_fields(path, f" record {i + 1}", row, fields)
    return data
