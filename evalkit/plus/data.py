"""The EvalPlus release files: where they are found, their hashes, and MBPP+'s input deserialisation.

Lookup order for a dataset (``humaneval`` or ``mbpp``): ``--data-dir``/``$EVALKIT_DATA_DIR`` (``DIR/evalplus/`` or
``DIR/``, gzipped or not, the release name first), evalplus's own override variable (``HUMANEVAL_OVERRIDE_PATH``,
``MBPP_OVERRIDE_PATH``), evalplus's cache (``~/.cache/evalplus/HumanEvalPlus-v0.1.10.jsonl``), then the release
asset that evalplus itself downloads (GitHub), checked against the pinned md5.

The hub copies (``evalplus/humanevalplus``, ``evalplus/mbppplus``) hold ``task_id, prompt, canonical_solution,
entry_point, test`` only: their ``test`` is one ``check`` function over base and plus inputs together, without
``base_input``/``plus_input``/``atol``, so the two scores cannot be told apart from them; evalkit does not use them.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from evalkit.errors import UserError, first_line
from evalkit.task import data_dir


@dataclass(frozen=True)
class Release:
    dataset: str  # evalplus's name: humaneval | mbpp
    stem: str  # release file stem (HumanEvalPlus, MbppPlus)
    version: str
    md5: str  # evalplus's dataset hash: md5 of the gunzipped jsonl
    env: str  # evalplus's override variable
    n: int

    @property
    def file_name(self) -> str:
        return f"{self.stem}-{self.version}.jsonl.gz"

    @property
    def url(self) -> str:  # evalplus/data/utils.py get_dataset_metadata
        return (f"https://github.com/evalplus/{self.stem.lower()}_release/releases/download/"
                f"{self.version}/{self.stem}.jsonl.gz")


RELEASES = {
    "humaneval": Release("humaneval", "HumanEvalPlus", "v0.1.10", "fe585eb4df8c88d844eeb463ea4d0302",
                         "HUMANEVAL_OVERRIDE_PATH", 164),
    "mbpp": Release("mbpp", "MbppPlus", "v0.2.0", "ee43ecabebf20deef4bb776a405ac5b1", "MBPP_OVERRIDE_PATH", 378),
}


@dataclass
class Loaded:
    rows: list[dict]
    sha256: str  # of the jsonl (gunzipped): the same for a .gz and its gunzipped copy
    md5: str  # evalplus's hash
    source: str


def _candidates(rel: Release, explicit: str | None) -> list[Path]:
    out: list[Path] = []
    d = data_dir(explicit)
    if d is not None:
        if d.is_file() and d.name.startswith(rel.stem):
            out.append(d)
        for sub in (d / "evalplus", d):
            out += [sub / rel.file_name, sub / rel.file_name[:-3]]
            if sub.is_dir():
                out += sorted(p for p in sub.glob(f"{rel.stem}*.jsonl*") if p.is_file())
    if os.environ.get(rel.env):
        out.append(Path(os.environ[rel.env]))
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "evalplus"
    out.append(cache / f"{rel.stem}-{rel.version}.jsonl")
    return out


def _read(path: Path) -> bytes:
    try:
        raw = path.read_bytes()
        return gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw
    except (OSError, EOFError, gzip.BadGzipFile) as e:
        raise UserError(f"cannot read {path}: {first_line(e)}") from None


def _download(rel: Release) -> tuple[bytes, str]:
    import urllib.request

    if "1" in (os.environ.get("HF_HUB_OFFLINE"), os.environ.get("HF_DATASETS_OFFLINE")):
        raise UserError(f"{rel.stem} {rel.version} not found locally (offline); put {rel.file_name} in "
                        f"--data-dir DIR/evalplus/ (or set {rel.env})")
    try:
        with urllib.request.urlopen(rel.url, timeout=60) as r:  # noqa: S310 (a fixed https URL)
            data = gzip.decompress(r.read())
    except Exception as e:
        raise UserError(f"{rel.stem} {rel.version} not found locally and the download failed ({first_line(e)}); "
                        f"put {rel.file_name} in --data-dir DIR/evalplus/ (or set {rel.env})") from None
    if hashlib.md5(data).hexdigest() != rel.md5:
        raise UserError(f"the downloaded {rel.url} does not have the pinned md5 {rel.md5}")
    return data, rel.url


def load_release(dataset: str, explicit: str | None = None) -> Loaded:
    rel = RELEASES[dataset]
    for path in _candidates(rel, explicit):
        if path.is_file():
            data, source = _read(path), str(path)
            break
    else:
        data, source = _download(rel)
    try:
        rows = [json.loads(line) for line in data.decode("utf-8").splitlines() if line.strip()]
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise UserError(f"{source}: not a JSON-lines EvalPlus file ({first_line(e)})") from None
    need = ("task_id", "prompt", "entry_point", "canonical_solution", "base_input", "plus_input", "atol")
    for i, r in enumerate(rows, 1):
        missing = [k for k in need if k not in r]
        if missing:
            raise UserError(f"{source}:{i}: not an EvalPlus row (missing {', '.join(missing)})")
    return Loaded(rows, hashlib.sha256(data).hexdigest(), hashlib.md5(data).hexdigest(), source)


# ------------------------------------------------------------------------------------------------
# evalplus/data/mbpp.py: mbpp_deserialize_inputs / mbpp_serialize_inputs, verbatim in effect
# ------------------------------------------------------------------------------------------------
_TUPLE_EACH = {2, 116, 132, 143, 222, 261, 273, 394, 399, 421, 424, 429, 470, 560, 579, 596, 616, 630, 726, 740,
               744, 809}
_TUPLE_NESTED = {63, 64, 70, 94, 120, 237, 272, 299, 400, 409, 417, 438, 473, 614, 780}
_TUPLE_FIRST_NESTED = {75, 413, 444, 753}
_TUPLE_FIRST = {250, 405, 446, 617, 720, 763, 808}
_TUPLE_NESTED_TWICE = {259, 401, 445}
_ALL_TUPLES = {580, 615, 791}


def _all_tuples(inp: object) -> object:
    if isinstance(inp, list):
        return tuple(_all_tuples(item) for item in inp)
    return inp


def mbpp_deserialize_inputs(task_id: str, inputs: list) -> list:
    n = int(task_id.split("/")[-1])
    if n in _TUPLE_EACH:
        return [[tuple(lst) for lst in inp] for inp in inputs]
    if n in _TUPLE_NESTED:
        return [[[tuple(lst) for lst in lst_lst] for lst_lst in inp] for inp in inputs]
    if n in _TUPLE_FIRST_NESTED:
        return [[[tuple(lst) for lst in inp[0]]] + [inp[1]] for inp in inputs]
    if n in (106, 750):
        return [[inp[0]] + [tuple(inp[1])] for inp in inputs]
    if n == 115:
        return [[[set(item) if isinstance(item, list) and len(item) else {} for item in inp[0]]] for inp in inputs]
    if n == 124:
        return [(float(inp[0]), complex(inp[1])) for inp in inputs]
    if n in _TUPLE_FIRST:
        return [[tuple(inp[0])] + [inp[1]] for inp in inputs]
    if n in _TUPLE_NESTED_TWICE:
        out = [[[tuple(lst) for lst in lst_lst] for lst_lst in inp] for inp in inputs]
        return [[tuple(lst) for lst in inp] for inp in out]
    if n == 278:
        out = [[[tuple(item) if isinstance(item, list) else item for item in inp[0]]] for inp in inputs]
        return [[tuple(lst) for lst in inp] for inp in out]
    if n == 307:
        return [[tuple(inp[0])] + [inp[1], inp[2]] for inp in inputs]
    if n == 722:
        return [[{key: tuple(value) for key, value in inp[0].items()}] + inp[1:] for inp in inputs]
    if n == 252:
        return [[complex(inp[0])] for inp in inputs]
    if n in _ALL_TUPLES:
        return [_all_tuples(inp) for inp in inputs]
    return inputs


def mbpp_serialize_inputs(task_id: str, inputs: list) -> list:
    """For eval_results.json: the JSON-able form of failing inputs."""
    n = int(task_id.split("/")[-1])
    if n == 115:
        return [[[list(item) for item in inp[0]]] for inp in inputs]
    if n == 124:
        return [(str(inp[0]), str(inp[1])) for inp in inputs]
    if n == 252:
        return [[str(inp[0])] for inp in inputs]
    return inputs
