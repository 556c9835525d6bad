"""What the sandbox runs and what it reports: an :class:`ExecSpec` in, :class:`Facts` out. No task knowledge.

A spec places files in a fresh, empty working directory, then runs its steps in order. A step is either a
program (``argv``: a compiler, ``java``, ``bash``, a built binary, ...) or Python source (``python``), run by a
fresh interpreter state forked from the warm worker (no ``exec``, so a Python step costs a fork). Each step has
its own limits (CPU seconds, wall seconds, memory, processes) and gets ``stdin``; later steps run only if the
previous one exited 0, unless it says ``continue_on_failure``.

Facts per step are measured by the worker's supervisor (init), never by the sample: exit status or the signal
that ended it, which limit was hit, CPU and wall time, the first ``output_limit`` bytes of stdout and stderr, and
the files it was asked to emit. A Python step's runner also reports whether the source ran to its end and the
uncaught exception, if any: those two facts come from inside the sample's process, so a hostile sample can forge
them (``reported_by_sample``); an evaluator that must be unforgeable decides without them.

A spec may carry a **driver**: trusted Python source from evalkit (an evaluator's, e.g. the task's test code with
the candidate as a stub), run by the supervisor, outside the sample's process and uid. It defines
``drive(call, data)``; ``call(name, args=(), kwargs=None, timeout=None)`` calls the function ``name`` that the
serving step's source defined, in the sample's process, and returns its result as a plain value (None, bool,
int, float, complex, str, bytes, list, tuple, dict, set, frozenset, nested), or raises the sample's exception
(a builtin exception class when the name is one, else :class:`SampleRaised`), or :class:`SampleGone` when the
sample's process is gone or the call ran past its time. ``data`` (plain values: expected outputs, ...) is never
shown to the sample. What ``drive`` returns (a plain value) is the driver's fact. Values cross between the two
processes only as plain values (``evalkit.sandbox.plain``): no object of the sample's ever reaches the driver.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import Any

DEFAULT_OUTPUT_LIMIT = 1 << 16
_ENCODED: dict[int, tuple[Any, Any, str]] = {}  # id(driver_data) -> (the object, kept alive; encoded; hash)


@dataclass(frozen=True)
class Step:
    argv: tuple[str, ...] = ()  # a program and its arguments (looked up on PATH inside the sandbox's view)
    python: str | None = None  # or Python source, run in a fresh interpreter state forked from the warm worker
    name: str = ""  # what the step is, for facts and messages: "compile", "run", ...
    stdin: str = ""
    cpu_s: float = 3.0  # CPU seconds (all the step's processes), rounded up to whole seconds
    wall_s: float | None = None  # wall-clock backstop; None: 2 * cpu_s + 2
    memory_mb: int | None = None  # address space per process; None: the pool's --memory-mb; 0: no limit
    max_processes: int | None = None  # processes and threads; None: the pool's
    env: tuple[tuple[str, str], ...] = ()  # added to the sandbox's environment (PATH, LANG, HOME=TMPDIR=workdir)
    emit: tuple[str, ...] = ()  # files (relative to the working directory) whose text comes back as facts
    output_limit: int = DEFAULT_OUTPUT_LIMIT  # bytes kept of stdout and of stderr (each)
    serve: bool = False  # Python steps: after the source ran, answer the driver's calls
    continue_on_failure: bool = False  # run the next step even if this one did not exit 0

    def __post_init__(self) -> None:
        if (self.python is None) == (not self.argv):
            raise ValueError("a step has either argv or python")
        if self.serve and self.python is None:
            raise ValueError("only a Python step can serve calls")


@dataclass(frozen=True)
class ExecSpec:
    steps: tuple[Step, ...]
    files: tuple[tuple[str, str], ...] = ()  # (path relative to the working directory, text), placed first
    driver: str | None = None  # trusted source defining drive(call, data); needs a step with serve=True
    driver_data: Any = None  # plain values for the driver, never shown to the sample; never changed once in a spec
    driver_timeout_s: float = 60.0  # wall-clock limit of the whole drive() (the calls' own limits come first)
    share_driver_data: bool = False  # the driver only reads its data: init may keep it decoded for the next spec

    def to_dict(self) -> dict:
        return asdict(self)

    def wire(self) -> dict:
        """The spec as JSON values, ``driver_data`` plain-encoded: what the worker reads and what the identity
        hashes; kept on the spec (immutable) when its driver data is shared. Callers must not change it."""
        w = self.__dict__.get("_wire")
        if w is None:
            from evalkit.sandbox.plain import encode

            data = self.driver_data
            hit = _ENCODED.get(id(data)) if self.share_driver_data else None
            if hit is None or hit[0] is not data:
                enc = encode(data)
                key = None
                if self.share_driver_data:  # one object for the specs of a problem: encoded once, named by hash
                    key = hashlib.sha256(json.dumps(enc, sort_keys=True).encode()).hexdigest()
                    if len(_ENCODED) >= 512:
                        _ENCODED.pop(next(iter(_ENCODED)))
                    _ENCODED[id(data)] = (data, enc, key)
                hit = (data, enc, key)
            w = {"steps": [dict(vars(st)) for st in self.steps], "files": [list(f) for f in self.files],
                 "driver": self.driver, "driver_data": hit[1], "driver_timeout_s": self.driver_timeout_s}
            if self.share_driver_data:
                w |= {"share_driver_data": True, "driver_data_key": hit[2]}
                self.__dict__["_wire"] = w  # the encoded data is the problem's, shared: keeping it costs little
        return w

    @classmethod
    def from_dict(cls, d: dict) -> ExecSpec:
        steps = tuple(Step(**{**s, "argv": tuple(s.get("argv") or ()),
                              "env": tuple(tuple(kv) for kv in s.get("env") or ()),
                              "emit": tuple(s.get("emit") or ())}) for s in d["steps"])
        return cls(steps=steps, files=tuple(tuple(f) for f in d.get("files") or ()),  # type: ignore[misc]
                   driver=d.get("driver"), driver_data=d.get("driver_data"),
                   driver_timeout_s=d.get("driver_timeout_s", 60.0),
                   share_driver_data=bool(d.get("share_driver_data")))

    def sha256(self) -> str:
        """The spec's identity: a verdict is keyed by it (same spec, same facts up to timing)."""
        h = self.__dict__.get("_sha256")
        if h is None:
            text = json.dumps(self.wire(), sort_keys=True, ensure_ascii=False)
            h = self.__dict__["_sha256"] = hashlib.sha256(text.encode()).hexdigest()
        return h


@dataclass
class StepFacts:
    name: str
    ran: bool = False  # False: an earlier step failed (or the spec was refused) and this one never started
    exit_code: int | None = None  # None: ended by a signal, or never ran
    signal: str | None = None  # e.g. "SIGKILL", "SIGSEGV"
    limit: str | None = None  # "cpu" or "wall" when that limit ended the step, "output" never kills
    cpu_s: float = 0.0
    wall_s: float = 0.0
    stdout: str = ""  # decoded as UTF-8 with replacement, cut at output_limit bytes
    stderr: str = ""
    truncated: bool = False  # stdout or stderr was longer than output_limit
    files: dict[str, str] = field(default_factory=dict)  # the emitted files that exist (text, cut at output_limit)
    # reported by the Python runner inside the sample's process: forgeable by a hostile sample
    reached_end: bool = False
    exception: str | None = None  # "TypeName: message" of the uncaught exception

    @property
    def ok(self) -> bool:
        return self.ran and self.exit_code == 0 and self.limit is None


@dataclass
class Facts:
    steps: list[StepFacts] = field(default_factory=list)
    driver: dict | None = None  # {"result": drive's return value, "error": "Type: msg" if drive raised, "calls": n,
    #                               "calls_sent_ahead": how many of them were answered without a round trip}
    sandbox_error: str | None = None  # the harness failed (never the sample's fault): the sample runs again
    duration_s: float = 0.0

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> Facts:
        return cls(steps=[StepFacts(**s) for s in d.get("steps") or ()], driver=d.get("driver"),
                   sandbox_error=d.get("sandbox_error"), duration_s=d.get("duration_s", 0.0))

    def step(self, name: str) -> StepFacts | None:
        return next((s for s in self.steps if s.name == name), None)

    @property
    def last(self) -> StepFacts | None:
        """The last step that ran."""
        ran = [s for s in self.steps if s.ran]
        return ran[-1] if ran else None


class SampleRaised(Exception):
    """In a driver: the sample's function raised an exception whose class is not a builtin one."""

    def __init__(self, type_name: str, message: str) -> None:
        super().__init__(f"{type_name}: {message}")
        self.type_name, self.message = type_name, message


class SampleGone(BaseException):
    """In a driver: the sample's process ended, or a call ran past its time. A BaseException, so test code's
    ``except Exception`` does not swallow it."""

    def __init__(self, reason: str, timed_out: bool = False) -> None:
        super().__init__(reason)
        self.reason, self.timed_out = reason, timed_out
