"""Expected outputs and reference times: the canonical solutions run once on every input, cached per dataset hash.

Mirrors evalplus 0.3.1 ``evaluate.get_groundtruth`` + ``gen/util.trusted_exec``: ``exec(prompt +
canonical_solution)``, each input deep-copied before the call, ``time.time()`` around each call, and for MBPP's
"output is not None" tasks the output replaced by ``output is not None``. The canonical solutions are the dataset's
own (trusted) code, run as evalplus runs them, outside the sample sandbox: in fresh child interpreters (one per
core, longest problems first) with ``PYTHONHASHSEED=0`` (the sandbox's value, so string-set orders agree), a CPU
limit and an address-space limit.

Cache: ``$EVALKIT_CACHE_DIR`` (default ``$XDG_CACHE_HOME/evalkit``, i.e. ``~/.cache/evalkit``) ``/evalplus/
<dataset>-<md5>-f<format>/<task_id>.pkl``, one pickle per problem (inputs as evalplus deserialises them, expected outputs,
reference times, atol, entry point), directories 0755 and files 0644 so the cache stays readable by
the user's other tools (evalkit's driver reads it on the harness's side; samples never see it); files are written atomically, so a killed build leaves nothing half-written. An expected output that
pickles to more than 256 KB (a few problems return megabytes: HumanEval/15, /130, Mbpp/255) moves to a side file
``<task_id>.big.pkl`` and the main file keeps its digest, so a sample does not unpickle hundreds of megabytes.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from evalkit.cachedir import cache_root
from evalkit.errors import UserError

# evalplus/eval/_special_oracle.py
MBPP_OUTPUT_NOT_NONE_TASKS = ("check_str", "text_match_three", "text_starta_endb")
# entry points compared by something other than ==: their expected outputs always stay in the main file
SPECIAL_ORACLES = frozenset(MBPP_OUTPUT_NOT_NONE_TASKS) | {
    "similar_elements", "find_char_long", "common_in_nested_lists", "extract_singly", "larg_nnum",
    "intersection_array", "find_dissimilar", "Diff", "are_equivalent", "sum_div", "surface_Area",
    "digit_distance_nums", "find_zero"}
PICKLE_PROTOCOL = 4
BIG_BYTES = 1 << 18
CACHE_FORMAT = 2  # part of the folder name: a new layout never reads an old cache
_CHILD_CPU_S = 3600
_CHILD_MEM = 16 << 30


def folder_for(dataset: str, md5: str) -> Path:
    return cache_root() / "evalplus" / f"{dataset}-{md5}-f{CACHE_FORMAT}"


def file_name(task_id: str) -> str:
    return task_id.replace("/", "_") + ".pkl"


def _mkdirs(path: Path) -> None:
    missing = []
    p = path
    while not p.exists():
        missing.append(p)
        p = p.parent
    for m in reversed(missing):
        try:
            m.mkdir(mode=0o755)
        except FileExistsError:
            pass
        os.chmod(m, 0o755)


def ensure(dataset: str, md5: str, problems: list[dict], workers: int | None = None,
           log: bool = True) -> Path:
    """The cache folder of this dataset, holding a file for every problem in ``problems`` (built if missing).

    ``problems``: rows with ``task_id, code, entry_point, atol, base_input, plus_input`` (inputs deserialised)."""
    folder = folder_for(dataset, md5)
    todo = [p for p in problems if not (folder / file_name(p["task_id"])).is_file()]
    if not todo:
        return folder
    try:
        _mkdirs(folder)
    except OSError as e:
        raise UserError(f"cannot create the EvalPlus cache {folder} ({e.strerror}); set EVALKIT_CACHE_DIR") from None
    t0 = time.time()
    if log:
        print(f"evalkit: computing EvalPlus expected outputs for {len(todo)} {dataset} problems "
              f"(once; cached in {folder})", file=sys.stderr)
    _build(folder, dataset, todo, workers)
    if log:
        print(f"evalkit: expected outputs computed in {time.time() - t0:.1f}s", file=sys.stderr)
    return folder


def _build(folder: Path, dataset: str, todo: list[dict], workers: int | None) -> None:
    n = max(1, min(workers or len(os.sched_getaffinity(0)), len(todo)))
    todo = sorted(todo, key=lambda p: -(len(p["base_input"]) + len(p["plus_input"])))
    shares: list[list[dict]] = [[] for _ in range(n)]
    for i, p in enumerate(todo):  # snake order: longest problems spread over the children
        r = i % (2 * n)
        shares[r if r < n else 2 * n - 1 - r].append(p)
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "LANG", "LC_ALL", "PYTHONPATH", "HOME")}
    env |= {"PYTHONHASHSEED": "0", "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    procs = []
    for share in shares:
        jobs = [dict(p, dataset=dataset, out=str(folder / file_name(p["task_id"]))) for p in share]
        with tempfile.TemporaryFile() as f:
            pickle.dump(jobs, f)
            f.seek(0)
            procs.append(subprocess.Popen([sys.executable, "-c", "from evalkit.plus.oracle import _child; _child()"],
                                          stdin=f, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env,
                                          cwd=tempfile.gettempdir()))
    errors = []
    for p in procs:
        _, err = p.communicate()
        if p.returncode != 0:
            errors.append(err.decode(errors="replace").strip().splitlines()[-1:] or [f"exit {p.returncode}"])
    if errors:
        raise UserError(f"computing EvalPlus expected outputs failed: {errors[0][0]}")


def trusted_exec(code: str, inputs: list, entry_point: str, output_not_none: bool) -> tuple[list, list[float]]:
    """evalplus/gen/util/__init__.py trusted_exec(record_time=True)."""
    from copy import deepcopy

    g: dict = {}
    exec(code, g)
    fn = g[entry_point]
    ret, rtime = [], []
    for inp in inputs:
        inp = deepcopy(inp)
        start = time.time()
        ret.append(fn(*inp))
        rtime.append(time.time() - start)
    if output_not_none:
        ret = [i is not None for i in ret]
    return ret, rtime


def _child() -> None:
    import resource

    resource.setrlimit(resource.RLIMIT_CPU, (_CHILD_CPU_S, _CHILD_CPU_S))
    try:
        resource.setrlimit(resource.RLIMIT_AS, (_CHILD_MEM, _CHILD_MEM))
    except (ValueError, OSError):
        pass
    jobs = pickle.load(sys.stdin.buffer)
    for job in jobs:
        nn = job["dataset"] == "mbpp" and job["entry_point"] in MBPP_OUTPUT_NOT_NONE_TASKS
        try:
            base, base_t = trusted_exec(job["code"], job["base_input"], job["entry_point"], nn)
            plus, plus_t = trusted_exec(job["code"], job["plus_input"], job["entry_point"], nn)
        except BaseException as e:
            sys.stderr.write(f"canonical solution of {job['task_id']} failed: {type(e).__name__}: {e}\n")
            sys.exit(1)
        data = {"task_id": job["task_id"], "dataset": job["dataset"], "entry_point": job["entry_point"],
                "atol": job["atol"], "base_input": job["base_input"], "base_expected": base, "base_time": base_t,
                "plus_input": job["plus_input"], "plus_expected": plus, "plus_time": plus_t}
        out = Path(job["out"])
        side = _split_big(data, out.with_suffix(".big.pkl").name)
        if side:
            _write(out.with_suffix(".big.pkl"), side)
        _write(out, data)


def _write(path: Path, obj: object) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as f:
        pickle.dump(obj, f, protocol=PICKLE_PROTOCOL)
        f.flush()
        os.fsync(f.fileno())
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


def _is_floats(x: object) -> bool:  # evalplus/eval/__init__.py is_floats, without numpy
    if isinstance(x, float):
        return True
    if isinstance(x, (list, tuple)) and x:
        return all(isinstance(i, float) for i in x)
    return False


def _split_big(data: dict, side_name: str) -> dict:
    """Move expected outputs larger than BIG_BYTES to a side file, leaving their sha256 (of the pickle) and
    is_floats flag. A sample whose output pickles to the same bytes equals the expected output; any other output
    is compared with the real one, read from the side file. Problems with a special oracle keep everything."""
    if data["entry_point"] in SPECIAL_ORACLES:
        return {}
    side: dict = {}
    for kind in ("base", "plus"):
        big = {}
        for i, e in enumerate(data[kind + "_expected"]):
            try:
                b = pickle.dumps(e, protocol=PICKLE_PROTOCOL)
            except Exception:
                continue
            if len(b) > BIG_BYTES:
                big[i] = (hashlib.sha256(b).hexdigest(), _is_floats(e))
                side.setdefault(kind, {})[i] = e
                data[kind + "_expected"][i] = None
        data[kind + "_big"] = big
    if side:
        data["big_file"] = side_name
    return side


def load(folder: Path, task_id: str) -> dict:
    with open(folder / file_name(task_id), "rb") as f:
        return pickle.load(f)


def load_side(folder: Path, task_id: str) -> dict:
    """The large expected outputs of a problem (``{kind: {index: value}}``)."""
    with open(folder / file_name(task_id).replace(".pkl", ".big.pkl"), "rb") as f:
        return pickle.load(f)
