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
"""

from __future__ import annotations

from evalkit.langs import Language, Rules, alternatives
from evalkit.sandbox.spec import Step

MONO_ENV = (("MONO_TRACE_LISTENER", "Console.Error"),)


class CSharp(Language):
    def steps(self, run_cpu_s: float) -> tuple[Step, ...]:
        return (Step(argv=("mcs", "-d:DEBUG", "-r:System.Numerics.dll", "main.cs", "-out:main.exe"), name="compile",
                     cpu_s=self.build_timeout, wall_s=2 * self.build_timeout + 10, memory_mb=2048,
                     max_processes=32),
                Step(argv=("mono", "main.exe"), name="run", cpu_s=run_cpu_s, memory_mb=2048, max_processes=32,
                     env=MONO_ENV))

    def sandbox_paths(self) -> tuple[str, ...]:
        return (*alternatives("mono"), *alternatives("mcs"), "/etc/mono")


LANGUAGE = CSharp(
    key="cs", title="C#", file="main.cs",
    programs=(("mcs", "mono-mcs"), ("mono", "mono-runtime")),
    rules=Rules(failing_output=(("stderr", "System.Diagnostics.DefaultTraceListener.Fail"),
                                ("stderr", "Unhandled Exception")),
                fail_markers=(("stderr", "DefaultTraceListener.Fail"),)),
    multiple_command="csc /d:DEBUG -r:System.Numerics.dll prog.cs /out:prog.exe; "
                     "MONO_TRACE_LISTENER=Console.Error mono prog.exe",
    differences="mcs instead of Roslyn csc (not in Debian): newer C# syntax may not compile; a run that exits "
                "non-zero without a marker is an error (MultiPL-E: OK)",
    build_timeout=30.0, run_timeout=10.0,
)
