"""Generation and execution overlapped: samples are judged in the sandbox while the model generates the next ones.

``generate_and_execute`` runs ``generate`` in the calling thread and an executor thread beside it. Each
generation reaches the executor as it is journaled; the executor hands what has arrived to the sandbox pool in
chunks and journals the verdicts. The journals are the same as without overlap, so ``--resume`` works exactly as
before: generation skips journaled samples, execution skips judged ones, and the ``execute`` pass that
follows when judging stopped early (an error in the executor) judges what is left.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Sequence
from typing import Any

from evalkit.errors import UserError
from evalkit.run import config as runcfg
from evalkit.run import generate as rungen
from evalkit.run import judge as runjudge
from evalkit.task import Task


class _Tee:
    """The generations journal, also handing every appended record to the executor."""

    def __init__(self, journal: Any, out: queue.Queue) -> None:
        self._journal, self._out = journal, out

    def append(self, rec: dict) -> None:
        self._journal.append(rec)
        self._out.put(rec)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._journal, name)


class _StoreView:
    def __init__(self, store: Any, generations: _Tee) -> None:
        self._store, self.generations = store, generations

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)


class _Executor(threading.Thread):
    def __init__(self, tasks: Sequence[Task], cfg: runcfg.RunConfig, store: Any, inbox: queue.Queue) -> None:
        super().__init__(name="evalkit-executor", daemon=True)
        self.tasks, self.cfg, self.store, self.inbox = tasks, cfg, store, inbox
        self.error: BaseException | None = None
        self.stop = threading.Event()
        self.ready = threading.Event()  # set once the sandbox pool has started, or failed to
        self.judged_here = 0
        self.info: dict | None = None  # the pool's info once every generation has a verdict

    def run(self) -> None:
        try:
            self._run()
        except BaseException as e:  # reported by the caller; the runner's own execute pass follows anyway
            self.error = e
        finally:
            self.ready.set()

    def _run(self) -> None:
        judge = runjudge.Judge(self.tasks, self.cfg, self.store)
        # every problem of the run: the pool starts before the generations arrive
        task_ids = {t.name: {p.task_id for p in runcfg.problems_of(t, self.cfg.limit)} for t in self.tasks}

        bar: list = []  # the judging left when generation has ended: a progress bar of its own

        def on_result(job: Any, res: Any) -> None:
            if judge.on_result(job, res):
                self.judged_here += 1
                if bar:
                    bar[0].update(1)

        with judge.pool(task_ids) as pool:
            self.ready.set()
            warned = False
            finished = False
            while not finished and not self.stop.is_set():
                chunk = [self.inbox.get()]  # wait for the next generation
                while True:  # and take everything else that has arrived
                    try:
                        chunk.append(self.inbox.get_nowait())
                    except queue.Empty:
                        break
                finished = chunk[-1] is None
                jobs = [j for rec in chunk if rec is not None and (j := judge.job(rec)) is not None]
                if jobs:
                    if not warned:
                        warned = True
                        runjudge.warn_layers(pool.layers)
                    if finished and len(jobs) > 1:
                        bar.append(runcfg.progress(total=len(jobs), desc="execute", unit="sample"))
                    try:
                        pool.run(jobs, on_result)
                    finally:
                        if bar:
                            bar.pop().close()
                    self.store.executions.sync()
            if finished and not self.stop.is_set():
                # anything journaled without passing through here (none, normally): judged now, in this pool
                rest = [j for rec in runjudge.unique_generations(self.store) if (j := judge.job(rec)) is not None]
                if rest:
                    pool.run(rest, on_result)
                judge.rerun(pool, on_result)
                self.store.executions.sync()
                self.info = pool.info()


def generate_and_execute(backend: Any, tasks: Sequence[Task], cfg: runcfg.RunConfig, store: Any) -> dict | None:
    """``generate`` with the sandbox judging each generation as soon as it is journaled. Returns the
    sandbox's info (as ``execute`` does) once every generation has its verdict, or None when judging
    stopped early: then ``execute`` judges what is left."""
    inbox: queue.Queue = queue.Queue()
    for rec in runjudge.unique_generations(store):  # --resume: earlier generations without verdicts go first
        inbox.put(rec)
    executor = _Executor(tasks, cfg, store, inbox)
    executor.start()
    executor.ready.wait()
    if isinstance(executor.error, UserError):  # e.g. a task's files for the sandbox cannot be made: say so now,
        raise executor.error                   # not after hours of generation
    try:
        rungen.generate(backend, tasks, cfg, _StoreView(store, _Tee(store.generations, inbox)))
    except BaseException:
        executor.stop.set()
        inbox.put(None)
        executor.join(timeout=5)
        raise
    inbox.put(None)
    executor.join()
    store.executions.sync()
    if executor.error is not None:
        runcfg.warn(f"judging during generation stopped ({type(executor.error).__name__}: {executor.error}); "
                    "the remaining samples are judged now")
        return None
    return executor.info
