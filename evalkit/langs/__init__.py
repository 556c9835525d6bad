"""Programming languages that evalkit compiles and runs in the sandbox: one small module per language.

A :class:`Language` says which programs its toolchain needs (and the Debian package that installs each), the
file the sample's program is written to, the steps that build and run it (``Step(argv=...)`` with limits that
fit the runtime), the read-only paths the toolchain needs inside the sandbox's minimal file view, and its
verdict rules (:class:`Rules`, read by ``evalkit.evaluators.exit_output``). The commands and rules are
MultiPL-E's (``evaluation/src/eval_<lang>.py``); each module says where evalkit differs and why.

Standard library only, no task knowledge: tasks (``tasks/multiple.py``) pick a language by its key.
"""

from __future__ import annotations

import hashlib
import importlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from evalkit.cachedir import cache_root  # noqa: F401 (also this module's name for it)
from evalkit.errors import UserError
from evalkit.sandbox.spec import Step

KEYS = ("cpp", "java", "php", "ts", "cs", "sh", "py")  # MultiPL-E's names of the languages evalkit runs
APT_LINE = ("apt-get install g++ default-jdk-headless libjavatuples-java php-cli nodejs node-typescript "
            "mono-mcs mono-runtime")


@dataclass(frozen=True)
class Rules:
    """How a run step's exit status and output become an outcome (after the evaluator's common rules: a
    build step that failed is a compile error, a CPU or wall limit is a timeout). A marker is ``(stream,
    text)``, stream ``"stdout"``, ``"stderr"`` or ``"output"`` (either)."""

    compile_markers: tuple[tuple[str, str], ...] = ()  # in a failed run: the interpreter refused the source
    fail_markers: tuple[tuple[str, str], ...] = ()  # in a failed run: a test's assertion failed (else: error)
    fail_exit_codes: tuple[int, ...] = ()  # exit codes that mean a test's assertion failed
    failing_output: tuple[tuple[str, str], ...] = ()  # the run failed even with exit code 0 (mono's asserts)


@dataclass(frozen=True)
class Language:
    key: str  # MultiPL-E's name: cpp, java, ...
    title: str  # C++, Java, ...
    file: str  # the program's file name in the sandbox's working directory
    programs: tuple[tuple[str, str], ...]  # (program on PATH, Debian package that installs it)
    files_needed: tuple[tuple[str, str], ...] = ()  # (file, Debian package): e.g. Java's javatuples.jar
    rules: Rules = field(default_factory=Rules)
    multiple_command: str = ""  # what MultiPL-E runs, for the record
    differences: str = ""  # where evalkit's commands differ from MultiPL-E's, and why it keeps the verdicts
    build_timeout: float = 30.0  # CPU seconds of a build step (javac and tsc are slow on a loaded machine)
    run_timeout: float = 10.0  # default CPU seconds of the run step (MultiPL-E: 15 s of wall clock)

    def missing(self) -> list[tuple[str, str]]:
        """(program or file, Debian package) for each part of the toolchain this machine lacks."""
        out = [(p, pkg) for p, pkg in self.programs if shutil.which(p) is None]
        out += [(f, pkg) for f, pkg in self.files_needed if not os.path.exists(f)]
        return out

    def check(self, who: str) -> None:
        """One clear error naming the packages to install, if the toolchain is not complete."""
        miss = self.missing()
        if miss:
            pkgs = " ".join(dict.fromkeys(pkg for _, pkg in miss))
            what = ", ".join(p for p, _ in miss)
            raise UserError(f"{who} needs {what} ({self.title} toolchain): apt-get install {pkgs}")

    def steps(self, run_cpu_s: float) -> tuple[Step, ...]:
        raise NotImplementedError

    def sandbox_paths(self) -> tuple[str, ...]:
        """Read-only paths the toolchain reads besides the sandbox's minimal view (/usr/bin, /usr/lib, /lib)."""
        return ()

    def prepare(self) -> tuple[str, ...]:
        """Build what makes the toolchain faster without changing verdicts (a precompiled header) where it is
        missing; the paths the sandbox must show for it. Called before samples run."""
        return ()


def get(key: str) -> Language:
    if key not in KEYS:
        raise UserError(f"unknown language {key!r} (known: {', '.join(KEYS)})")
    return importlib.import_module(f"evalkit.langs.{key}").LANGUAGE


def alternatives(program: str) -> tuple[str, ...]:
    """A program's path on PATH, for the sandbox view: through it the view recreates the symbolic links met on
    the way (``/usr/bin/java`` -> ``/etc/alternatives/java`` -> the JDK), which the minimal ``/etc`` lacks."""
    found = shutil.which(program)
    return (found,) if found else ()


def tool_version(argv: list[str], stream: str = "stdout", timeout: float = 60) -> str | None:
    """What ``argv`` (e.g. ``g++ --version``) prints on ``stream``: part of a build-once cache's key; None if it
    cannot run."""
    try:
        r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.SubprocessError):
        return None
    return r.stderr if stream == "stderr" else r.stdout


def cache_key(*parts: str) -> str:
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:16]


def built_once(kind: str, key: str, marker: str, build: Callable[[Path], bool]) -> Path | None:
    """``cache_root()/kind/key``, built by ``build(folder)`` (True: success) the first time, where ``marker``
    (a path inside it) is missing; built in a temporary folder renamed into place, so a half-built cache is
    never seen and two processes building at once are harmless. None where it cannot be built."""
    final = cache_root() / kind / key
    if (final / marker).exists():
        return final
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=final.parent, prefix=".build-"))
        try:
            ok = build(tmp)
        except (OSError, subprocess.SubprocessError):
            ok = False
        if not ok or not (tmp / marker).exists():
            shutil.rmtree(tmp, ignore_errors=True)
            return None
        os.chmod(tmp, 0o755)
        try:
            os.rename(tmp, final)
        except OSError:  # another process built it first
            shutil.rmtree(tmp, ignore_errors=True)
    except OSError:
        return None
    return final if (final / marker).exists() else None
