"""The harness side of the sandbox: a pool of warm workers fed from a queue, facts streamed back.

Each worker is a fresh ``python`` process (``evalkit.sandbox.worker``) that talks JSON lines over its
stdin/stdout: an ``ExecSpec`` in, its ``Facts`` out. A thread per worker sends one job at a time; facts reach
``on_result`` as they finish. The pool decides nothing: verdicts are the evaluators' (``evalkit.evaluators``),
and so is the rule that re-runs a load-sensitive verdict alone (``evalkit.judge``).
"""

from __future__ import annotations

import json
import os
import queue
import secrets
import select
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from evalkit.sandbox import SandboxConfig
from evalkit.sandbox.scrub import scrub, secrets_of
from evalkit.sandbox.spec import ExecSpec, Facts

_WORKER_CMD = "from evalkit.sandbox.worker import main; main()"
_THREAD_ENV = {k: "1" for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                                "NUMEXPR_NUM_THREADS", "VECLIB_MAXIMUM_THREADS")}
# The only variables a sample sees: model code never reads the harness's tokens and keys (HF_TOKEN, ...).
_PASS_ENV = ("PATH", "LANG", "LC_ALL", "LC_CTYPE", "PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "TZ",
             "OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
_SCRATCH_PREFIX = "evalkit-sandbox-"


def default_workers() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _remove_stale_scratch() -> None:
    """Scratch folders of evalkit processes that died (SIGKILL) without cleaning up: empty, named by pid."""
    tmp = tempfile.gettempdir()
    try:
        names = [n for n in os.listdir(tmp) if n.startswith(_SCRATCH_PREFIX)]
    except OSError:
        return
    for name in names:
        pid = name[len(_SCRATCH_PREFIX):].split("-", 1)[0]
        if pid.isdigit() and not os.path.exists(f"/proc/{pid}"):
            shutil.rmtree(os.path.join(tmp, name), ignore_errors=True)


def _cwd_digests() -> list[str]:
    from evalkit.sandbox.fsview import cwd_digests

    try:
        return cwd_digests(os.getcwd())
    except OSError:  # the working directory was deleted
        return []


class SandboxError(RuntimeError):
    pass


class _Spawner:
    """Starts the workers' processes from one thread that lives as long as the pool: a worker dies with its
    parent (``PR_SET_PDEATHSIG``), and Linux sends that signal when the *thread* that forked it ends, so a worker
    started from a short-lived thread (one per worker at start, the run's threads on a replacement) would be
    dead by the next ``run``."""

    def __init__(self) -> None:
        self._q: queue.Queue = queue.Queue()
        self._thread = threading.Thread(target=self._loop, name="evalkit-sandbox-spawner", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while (item := self._q.get()) is not None:
            fn, box, done = item
            try:
                box.append(fn())
            except BaseException as e:  # handed back to the caller
                box.append(e)
            done.set()

    def call(self, fn: Callable[[], Any]) -> Any:
        box: list = []
        done = threading.Event()
        self._q.put((fn, box, done))
        done.wait()
        if isinstance(box[0], BaseException):
            raise box[0]
        return box[0]

    def stop(self) -> None:
        self._q.put(None)


@dataclass
class Job:
    key: Any  # opaque to the pool: returned with the facts
    spec: ExecSpec


class _Worker:
    def __init__(self, cfg: SandboxConfig, cpu: int | None = None, spawner: _Spawner | None = None) -> None:
        self.scratch = tempfile.mkdtemp(prefix=f"{_SCRATCH_PREFIX}{os.getpid()}-")
        os.chmod(self.scratch, 0o755)
        wcfg = cfg.to_dict() | {"scratch": self.scratch, "sample_uid": 1_000_000 + secrets.randbelow(1 << 30),
                                "hidden_digests": _cwd_digests(), "cpu": cpu}
        self.secrets = secrets_of(os.environ, _PASS_ENV)  # what the sample's environment lost; kept out of details
        env = {k: os.environ[k] for k in _PASS_ENV if k in os.environ} | _THREAD_ENV | {
            "EVALKIT_SANDBOX_CONFIG": json.dumps(wcfg),
            "PYTHONHASHSEED": "0",
            "PYTHONDONTWRITEBYTECODE": "1",
            "PYTHONUNBUFFERED": "1",
        }
        self.stderr = tempfile.TemporaryFile()
        def popen() -> subprocess.Popen:
            return subprocess.Popen(
                [sys.executable, "-c", _WORKER_CMD], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                stderr=self.stderr, env=env, cwd="/", start_new_session=True,
            )

        self.proc = spawner.call(popen) if spawner is not None else popen()
        self.buf = b""
        ready = self._read_line(60.0)
        if ready is None or not ready.get("ready"):
            self.close()
            raise SandboxError(f"sandbox worker failed to start: {self._stderr_tail()}")
        self.layers: dict = ready["layers"]
        self.uid: int = ready["uid"]  # init's
        self.sample_uid: int = ready.get("sample_uid", self.uid)
        self.broken = False

    def _stderr_tail(self) -> str:
        try:
            self.stderr.seek(0)
            text = self.stderr.read().decode(errors="replace").strip().splitlines()
            return text[-1] if text else "no output"
        except (OSError, ValueError):
            return "no output"

    def _read_line(self, timeout: float) -> dict | None:
        fd = self.proc.stdout.fileno()  # type: ignore[union-attr]
        while b"\n" not in self.buf:
            r, _, _ = select.select([fd], [], [], timeout)
            if not r:
                return None
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                return None
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def run(self, spec: ExecSpec) -> Facts:
        walls = sum((st.wall_s or 2 * st.cpu_s + 2) for st in spec.steps)
        if spec.driver:
            walls += spec.driver_timeout_s
        try:
            self.proc.stdin.write((json.dumps({"id": 0, "spec": spec.wire()}) + "\n").encode())  # type: ignore[union-attr]
            self.proc.stdin.flush()  # type: ignore[union-attr]
            res = self._read_line(walls + 30.0)
        except (OSError, ValueError):
            res = None
        if res is None:
            raise SandboxError(f"sandbox worker stopped answering ({self._stderr_tail()})")
        try:
            facts = Facts.from_dict(res["facts"])
        except (TypeError, KeyError, ValueError) as e:
            raise SandboxError(f"sandbox worker sent facts evalkit cannot read ({e})") from None
        for st in facts.steps:  # what the sample printed never carries the harness's secrets
            st.stdout = scrub(st.stdout, self.secrets)
            st.stderr = scrub(st.stderr, self.secrets)
            if st.exception:
                st.exception = scrub(st.exception, self.secrets)
        if facts.driver and isinstance(facts.driver.get("error"), str):
            facts.driver["error"] = scrub(facts.driver["error"], self.secrets)
        if facts.sandbox_error and facts.sandbox_error.startswith("worker replaced"):
            self.broken = True
        return facts

    def close(self) -> None:
        try:
            self.proc.kill()
            self.proc.wait(timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            pass
        for f in (self.proc.stdin, self.proc.stdout):
            try:
                if f:
                    f.close()
            except OSError:
                pass
        self.stderr.close()
        shutil.rmtree(self.scratch, ignore_errors=True)


class SandboxPool:
    """``with SandboxPool(cfg, workers=2) as pool: pool.run(jobs, on_result)``."""

    def __init__(self, config: SandboxConfig | None = None, workers: int | None = None) -> None:
        self.config = config or SandboxConfig()
        self.n_workers = max(1, workers or default_workers())
        self._workers: list[_Worker] = []
        self._spawner: _Spawner | None = None
        self.layers: dict = {}

    def __enter__(self) -> SandboxPool:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start(self) -> None:
        _remove_stale_scratch()
        if self._spawner is None:
            self._spawner = _Spawner()
        results: list[_Worker | BaseException] = [None] * self.n_workers  # type: ignore[list-item]

        def spawn(i: int) -> None:
            try:
                results[i] = _Worker(self.config, self._cpu(i), self._spawner)
            except BaseException as e:  # reported below
                results[i] = e

        threads = [threading.Thread(target=spawn, args=(i,)) for i in range(self.n_workers)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        errors = [r for r in results if isinstance(r, BaseException)]
        self._workers = [r for r in results if isinstance(r, _Worker)]
        if errors:
            self.close()
            raise SandboxError(str(errors[0]))
        self.layers = self._workers[0].layers

    def _cpu(self, idx: int) -> int | None:
        """One core per worker when there are no more workers than cores: init, its driver and the sample's
        process then share a core, so each call of a driver is a direct switch, not a wake-up on another core
        (measured here: ~80 instead of ~250 microseconds a call)."""
        try:
            cpus = sorted(os.sched_getaffinity(0))
        except (AttributeError, OSError):
            return None
        return cpus[idx] if self.n_workers <= len(cpus) and idx < len(cpus) else None

    def close(self) -> None:
        for w in self._workers:
            w.close()
        self._workers = []
        if self._spawner is not None:
            self._spawner.stop()
            self._spawner = None

    def info(self) -> dict:
        """What the results record: limits and the isolation layers that were active."""
        return {"limits": self.config.to_dict(), "layers": self.layers, "workers": self.n_workers}

    def _run_on(self, idx: int, job: Job) -> Facts:
        for attempt in range(2):
            try:
                facts = self._workers[idx].run(job.spec)
                if self._workers[idx].broken:  # it could not clean up after this sample: a new one
                    self._replace(idx)
                return facts
            except SandboxError as e:
                err = self._replace(idx)
                if err is not None:
                    return Facts(sandbox_error=err)
                if attempt == 1:
                    return Facts(sandbox_error=str(e))
        raise AssertionError("unreachable")

    def _replace(self, idx: int) -> str | None:
        self._workers[idx].close()
        try:
            self._workers[idx] = _Worker(self.config, self._cpu(idx), self._spawner)
        except SandboxError as e:
            return str(e)
        return None

    def run(self, jobs: Iterable[Job], on_result: Callable[[Job, Facts], None]) -> None:
        """Run every job; call ``on_result`` (serialised) once per job with its facts."""
        if not self._workers:
            self.start()
        q: queue.Queue[Job | None] = queue.Queue()
        for job in jobs:
            q.put(job)
        for _ in self._workers:
            q.put(None)
        lock = threading.Lock()
        failure: list[BaseException] = []

        def loop(idx: int) -> None:
            try:
                while (job := q.get()) is not None:
                    if failure:
                        continue
                    facts = self._run_on(idx, job)
                    with lock:
                        on_result(job, facts)
            except BaseException as e:  # e.g. the callback failed: stop everyone, re-raise below
                failure.append(e)

        threads = [threading.Thread(target=loop, args=(i,), daemon=True) for i in range(len(self._workers))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if failure:
            raise failure[0]


def run_one(spec: ExecSpec, config: SandboxConfig | None = None) -> Facts:
    """One spec in a one-worker pool of its own (tests, one-off checks)."""
    out: list[Facts] = []
    with SandboxPool(config, workers=1) as pool:
        pool.run([Job(0, spec)], lambda _j, f: out.append(f))
    return out[0]
