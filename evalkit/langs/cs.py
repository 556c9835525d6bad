"""C#: ``mcs`` then ``mono`` (MultiPL-E ``eval_cs.py`` runs Roslyn ``csc /d:DEBUG -r:System.Numerics.dll``,
which Debian does not ship; ``mcs`` is Mono's own compiler, same flags).

The tests are ``Debug.Assert`` calls (compiled in by ``-d:DEBUG``). A failed one under ``mono`` prints nothing and
exits 0 unless ``MONO_TRACE_LISTENER=Console.Error`` is set (MultiPL-E sets it): then the stack trace names
``System.Diagnostics.DefaultTraceListener.Fail``, still with exit code 0, so the output decides (a failure);
"Unhandled Exception" is an error. MultiPL-E calls any other run "OK", even one that exits non-zero; evalkit
calls that an error.

What ``mcs`` changes against ``csc``: both compile C# 7-era code the same way for these programs; ``mcs`` lacks
some newer syntax (C# 8+: switch expressions, ranges, ``??=``), so a completion using it is a compile error here
where ``csc`` may accept it. The prompts and tests themselves compile with both.

Speed: ``mcs.exe`` is a .NET program, and Debian ships no ahead-of-time images of it or of ``mscorlib``: each
compile JIT-compiles the compiler (~0.45 s of its ~0.75 s CPU here). evalkit builds those two images once per
machine and Mono (``mono --aot``, ~30 s, in ``$EVALKIT_CACHE_DIR/mono-aot/``) and runs both steps with
``MONO_ENV_OPTIONS=--aot-path=<that folder>``: the same IL, compiled by the same code generator ahead of time
instead of at start-up (Mono checks each image against its assembly and falls back to the JIT otherwise), so
the compiler and the program behave the same; a compile then takes ~0.3 s CPU. Where the images cannot be
built, the plain commands run.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
from pathlib import Path

from evalkit.langs import Language, Rules, alternatives, built_once, cache_key, tool_version
from evalkit.sandbox.spec import Step

MONO_ENV = (("MONO_TRACE_LISTENER", "Console.Error"),)


def _assemblies() -> tuple[str, ...]:
    """mcs.exe (named by the ``mcs`` script) and the mscorlib.dll beside it."""
    mcs = shutil.which("mcs")
    if mcs is None:
        return ()
    try:
        text = Path(mcs).read_text(errors="replace")[:4096]
    except OSError:
        return ()
    m = re.search(r"(/\S+/mcs\.exe)", text)
    if m is None or not os.path.isfile(m.group(1)):
        return ()
    corlib = os.path.join(os.path.dirname(m.group(1)), "mscorlib.dll")
    return (m.group(1), corlib) if os.path.isfile(corlib) else ()


@functools.cache
def aot_images() -> str | None:
    """The folder of the ahead-of-time images of mcs.exe and mscorlib.dll (built here once if missing), or None
    where they cannot be built."""
    asms = _assemblies()
    if not asms or shutil.which("mono") is None or os.environ.get("EVALKIT_MONO_AOT", "1") == "0":
        return None
    version = tool_version(["mono", "--version"])
    if version is None:
        return None

    def build(tmp: Path) -> bool:
        for a in asms:
            out = tmp / (os.path.basename(a) + ".so")
            r = subprocess.run(["mono", f"--aot=outfile={out}", a], capture_output=True, timeout=900, cwd=tmp)
            if r.returncode != 0:
                return False
        return True

    key = cache_key(version, *(f"{a}\0{os.stat(a).st_mtime_ns}" for a in asms))
    final = built_once("mono-aot", key, os.path.basename(asms[0]) + ".so", build)
    return str(final) if final else None


class CSharp(Language):
    def steps(self, run_cpu_s: float) -> tuple[Step, ...]:
        aot = aot_images()
        env = (("MONO_ENV_OPTIONS", f"--aot-path={aot}"),) if aot else ()
        return (Step(argv=("mcs", "-d:DEBUG", "-r:System.Numerics.dll", "main.cs", "-out:main.exe"), name="compile",
                     cpu_s=self.build_timeout, wall_s=2 * self.build_timeout + 10, memory_mb=2048,
                     max_processes=32, env=env),
                Step(argv=("mono", "main.exe"), name="run", cpu_s=run_cpu_s, memory_mb=2048, max_processes=32,
                     env=MONO_ENV + env))

    def sandbox_paths(self) -> tuple[str, ...]:
        aot = aot_images()
        return (*alternatives("mono"), *alternatives("mcs"), "/etc/mono", *((aot,) if aot else ()))

    def prepare(self) -> tuple[str, ...]:
        return self.sandbox_paths()


LANGUAGE = CSharp(
    key="cs", title="C#", file="main.cs",
    programs=(("mcs", "mono-mcs"), ("mono", "mono-runtime")),
    rules=Rules(failing_output=(("stderr", "System.Diagnostics.DefaultTraceListener.Fail"),
                                ("stderr", "Unhandled Exception")),
                fail_markers=(("stderr", "DefaultTraceListener.Fail"),)),
    multiple_command="csc /d:DEBUG -r:System.Numerics.dll prog.cs /out:prog.exe; "
                     "MONO_TRACE_LISTENER=Console.Error mono prog.exe",
    differences="mcs instead of Roslyn csc (not in Debian): newer C# syntax may not compile; a run that exits "
                "non-zero without a marker is an error (MultiPL-E: OK); mcs and mscorlib run from ahead-of-time "
                "images built once per machine",
    build_timeout=30.0, run_timeout=10.0,
)
