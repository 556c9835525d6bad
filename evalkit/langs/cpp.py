"""C++: ``g++ -std=c++17`` then the binary (MultiPL-E ``eval_cpp.py``).

Speed: every MultiPL-E C++ prompt includes ``<bits/stdc++.h>``, whose parsing is most of a compile (2.9 s of
3.4 s here). evalkit precompiles that header once per machine and compiler (``$EVALKIT_CACHE_DIR/cpp-pch/``,
default ``~/.cache/evalkit``) and passes ``-include bits/stdc++.h`` with the precompiled header's folder on the
include path: the header is then the first thing the compiler reads (before ``<assert.h>``, which it includes
itself), with the same flags, so the program means the same; a compile takes ~0.5 s. Where the header cannot be
built, the plain command runs.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
from pathlib import Path

from evalkit.langs import Language, Rules, alternatives, built_once, cache_key, tool_version
from evalkit.sandbox.spec import Step

STD = "-std=c++17"
RUN_MEMORY_MB = 1024  # address space of the program: HumanEval programs use a few MiB; a memory bomb ends fast


def _stdcpp_header() -> str | None:
    """Where g++ finds <bits/stdc++.h>."""
    try:
        out = subprocess.run(["g++", STD, "-x", "c++", "-E", "-H", "-"], input="#include <bits/stdc++.h>\n",
                             capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.SubprocessError):
        return None
    for line in out.stderr.splitlines():
        if line.startswith(". ") and line.endswith("bits/stdc++.h"):
            return os.path.realpath(line[2:].strip())
    return None


@functools.cache
def precompiled_header() -> str | None:
    """The folder holding ``bits/stdc++.h.gch`` (built here if missing), or None where it cannot be built."""
    header = _stdcpp_header()
    gpp = shutil.which("g++")
    if header is None or gpp is None:
        return None
    version = tool_version(["g++", "--version"])
    if version is None:
        return None

    def build(tmp: Path) -> bool:
        (tmp / "bits").mkdir()
        os.symlink(header, tmp / "bits" / "stdc++.h")  # g++ wants the header beside its .gch
        r = subprocess.run(["g++", STD, "-x", "c++-header", header, "-o", str(tmp / "bits" / "stdc++.h.gch")],
                           capture_output=True, timeout=600)
        return r.returncode == 0

    key = cache_key(version, os.path.realpath(gpp), header, str(os.stat(header).st_mtime_ns), STD)
    final = built_once("cpp-pch", key, "bits/stdc++.h.gch", build)
    return str(final) if final else None


class Cpp(Language):
    def steps(self, run_cpu_s: float) -> tuple[Step, ...]:
        pch = precompiled_header() if os.environ.get("EVALKIT_CPP_PCH", "1") != "0" else None
        fast = ("-I", pch, "-include", "bits/stdc++.h") if pch else ()
        return (Step(argv=("g++", STD, *fast, "main.cpp", "-o", "main"), name="compile",
                     cpu_s=self.build_timeout, wall_s=2 * self.build_timeout + 10, memory_mb=2048,
                     max_processes=16),
                Step(argv=("./main",), name="run", cpu_s=run_cpu_s, memory_mb=RUN_MEMORY_MB, max_processes=64))

    def sandbox_paths(self) -> tuple[str, ...]:
        pch = precompiled_header()
        return ("/usr/include", *alternatives("g++"), *((pch,) if pch else ()))

    def prepare(self) -> tuple[str, ...]:
        return self.sandbox_paths()


LANGUAGE = Cpp(
    key="cpp", title="C++", file="main.cpp",
    programs=(("g++", "g++"),),
    rules=Rules(fail_markers=(("stderr", "Assertion `"),)),  # assert() prints this, then aborts
    multiple_command="g++ prog.cpp -o prog -std=c++17; ./prog",
    differences="the header <bits/stdc++.h> is precompiled once and included first (-include); same flags",
    build_timeout=30.0, run_timeout=10.0,
)
