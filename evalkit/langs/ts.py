"""TypeScript: ``tsc --target esnext`` then ``node`` on the emitted JavaScript (MultiPL-E ``eval_ts.py``).

tsc exits non-zero on a type error too (it still emits JavaScript): MultiPL-E's "SyntaxError", a compile error
here. The tests use node's loose ``assert.deepEqual``; an assertion is ``ERR_ASSERTION`` on stderr. evalkit adds
``--skipLibCheck`` (the bundled ``lib.*.d.ts`` files are not re-checked for each program; a program's own errors
are still all reported), which saves ~0.5 s a compile. tsc lives in ``/usr/share/nodejs`` (Debian's
``node-typescript``).

Speed: tsc runs from a start-up snapshot with the bundled declaration files already parsed and bound
(``evalkit.langs.tsc_snapshot``; same messages, exit status and JavaScript as the plain ``tsc``): ~0.5 s of CPU a
compile instead of ~2.3 s. Where the snapshot cannot be built (or differs from tsc), the plain ``tsc`` runs.
"""

from __future__ import annotations

import os
import shutil

from evalkit.langs import Language, Rules, alternatives
from evalkit.langs.tsc_snapshot import snapshot
from evalkit.sandbox.spec import Step

MEMORY_MB = 4096  # V8 reserves address space; tsc aborts under 1 GiB
TSC_OPTIONS = ("--target", "esnext", "--skipLibCheck")


def node_share() -> tuple[str, ...]:
    """The folder tsc's script lives under (``/usr/bin/tsc`` -> ``/usr/share/nodejs/typescript/bin/tsc``)."""
    tsc = shutil.which("tsc")
    if tsc is None:
        return ()
    real = os.path.realpath(tsc)
    return (os.path.dirname(os.path.dirname(os.path.dirname(real))),)


class TypeScript(Language):
    def steps(self, run_cpu_s: float) -> tuple[Step, ...]:
        blob = snapshot(TSC_OPTIONS)
        tsc = ("node", f"--snapshot-blob={blob}", "--") if blob else ("tsc",)
        return (Step(argv=(*tsc, *TSC_OPTIONS, "main.ts"), name="compile",
                     cpu_s=self.build_timeout, wall_s=2 * self.build_timeout + 10, memory_mb=MEMORY_MB,
                     max_processes=32),
                Step(argv=("node", "main.js"), name="run", cpu_s=run_cpu_s, memory_mb=MEMORY_MB, max_processes=32))

    def sandbox_paths(self) -> tuple[str, ...]:
        blob = snapshot(TSC_OPTIONS)
        return (*alternatives("tsc"), *alternatives("node"), *node_share(), *((os.path.dirname(blob),) if blob else ()))

    def prepare(self) -> tuple[str, ...]:
        return self.sandbox_paths()


LANGUAGE = TypeScript(
    key="ts", title="TypeScript", file="main.ts",
    programs=(("tsc", "node-typescript"), ("node", "nodejs")),
    rules=Rules(fail_markers=(("stderr", "ERR_ASSERTION"),)),
    multiple_command="tsc --target esnext prog.ts; node prog.js",
    differences="tsc --skipLibCheck (the bundled declaration files are not re-checked per program), started from a "
                "snapshot with those files parsed",
    build_timeout=40.0, run_timeout=10.0,
)
