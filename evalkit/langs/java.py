"""Java: ``javac`` then ``java -ea`` with javatuples on the class path (MultiPL-E ``eval_java.py``).

Every MultiPL-E Java prompt imports ``org.javatuples.*``: Debian's ``libjavatuples-java`` installs the same
release (1.2) as ``/usr/share/java/javatuples.jar``. The JVM reserves address space by the machine's memory (a
heap of a quarter of it), so under the sandbox's address-space limit it would not start: evalkit gives both JVMs
(javac's and the program's) a 1 GiB heap and small fixed reservations (serial GC, 64 MiB code cache and class
space, no perf-data file) and the first JIT tier only, which starts fastest; a memory bomb then ends in
``OutOfMemoryError`` (an error), and HumanEval-sized programs never come near these sizes.
"""

from __future__ import annotations

import os
import shutil

from evalkit.langs import Language, Rules, alternatives
from evalkit.sandbox.spec import Step

JAVATUPLES = "/usr/share/java/javatuples.jar"
JVM = ("-Xmx1g", "-Xss8m", "-XX:+UseSerialGC", "-XX:ReservedCodeCacheSize=64m", "-XX:CompressedClassSpaceSize=64m",
       "-XX:MaxMetaspaceSize=256m", "-XX:TieredStopAtLevel=1", "-XX:-UsePerfData")
MEMORY_MB = 3072  # address space per process: what the JVM above reserves, with room


class Java(Language):
    def steps(self, run_cpu_s: float) -> tuple[Step, ...]:
        return (Step(argv=("javac", *(f"-J{f}" for f in JVM), "-encoding", "UTF8", "-cp", JAVATUPLES, "-d", ".",
                           "Problem.java"), name="compile", cpu_s=self.build_timeout,
                     wall_s=2 * self.build_timeout + 10, memory_mb=MEMORY_MB, max_processes=64),
                Step(argv=("java", *JVM, "-ea", "-cp", f".:{JAVATUPLES}", "Problem"), name="run", cpu_s=run_cpu_s,
                     memory_mb=MEMORY_MB, max_processes=64))

    def sandbox_paths(self) -> tuple[str, ...]:
        return (*alternatives("java"), *alternatives("javac"), *jdk_config(), JAVATUPLES)


def jdk_config() -> tuple[str, ...]:
    """The folders outside /usr that the JDK's configuration links point to (Debian: /etc/java-17-openjdk)."""
    java = shutil.which("java")
    if java is None:
        return ()
    home = os.path.dirname(os.path.dirname(os.path.realpath(java)))
    out: list[str] = []
    for sub in ("conf", "lib", "conf/security"):
        d = os.path.join(home, sub)
        try:
            names = os.listdir(d)
        except OSError:
            continue
        for n in names:
            p = os.path.join(d, n)
            if os.path.islink(p):
                target = os.path.realpath(p)
                top = "/".join(target.split("/")[:3])  # /etc/java-17-openjdk
                if not target.startswith("/usr/") and top not in out and os.path.isdir(top):
                    out.append(top)
    return tuple(out)


LANGUAGE = Java(
    key="java", title="Java", file="Problem.java",
    programs=(("javac", "default-jdk-headless"), ("java", "default-jdk-headless")),
    files_needed=((JAVATUPLES, "libjavatuples-java"),),
    rules=Rules(fail_markers=(("stderr", "java.lang.AssertionError"),)),
    multiple_command="javac -encoding UTF8 -d OUT prog.java (CLASSPATH=javatuples-1.2.jar); "
                     "java -ea -cp OUT:javatuples-1.2.jar Problem",
    differences="fixed JVM sizes (1 GiB heap, serial GC, first JIT tier) so the JVM starts under the sandbox's "
                "address-space limit; javatuples from Debian (same 1.2 release)",
    build_timeout=30.0, run_timeout=10.0,
)
