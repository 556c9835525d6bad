"""Java: ``javac`` then ``java -ea`` with javatuples on the class path (MultiPL-E ``eval_java.py``).

Every MultiPL-E Java prompt imports ``org.javatuples.*``: Debian's ``libjavatuples-java`` installs the same
release (1.2) as ``/usr/share/java/javatuples.jar``. The JVM reserves address space by the machine's memory (a
heap of a quarter of it), so under the sandbox's address-space limit it would not start: evalkit gives both JVMs
(javac's and the program's) a 1 GiB heap and small fixed reservations (serial GC, 64 MiB code cache and class
space, no perf-data file) and the first JIT tier only, which starts fastest; a memory bomb then ends in
``OutOfMemoryError`` (an error), and HumanEval-sized programs never come near these sizes.

Speed: most of a ``javac`` run is the JVM loading and linking javac's own classes (~1,500 of them). evalkit
dumps them once per machine and JDK into a class-data-sharing archive (``-XX:ArchiveClassesAtExit``, a
"dynamic AppCDS" archive in ``$EVALKIT_CACHE_DIR/java-cds/``, made by compiling a small program outside the
sandbox) and starts each sample's ``javac`` with ``-XX:SharedArchiveFile`` on it: the classes are mapped
instead of parsed and verified, ~40% of javac's CPU time here (1.5 s -> 0.9 s). The archive holds only the
JDK's classes in the form the JVM would load anyway, and the JVM checks it against its own build and flags
(refusing it silently otherwise), so what javac compiles and reports is the same. Where the archive cannot be
made, the plain command runs.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
from pathlib import Path

from evalkit.langs import Language, Rules, alternatives, built_once, cache_key, tool_version
from evalkit.sandbox.spec import Step

JAVATUPLES = "/usr/share/java/javatuples.jar"
JVM = ("-Xmx1g", "-Xss8m", "-XX:+UseSerialGC", "-XX:ReservedCodeCacheSize=64m", "-XX:CompressedClassSpaceSize=64m",
       "-XX:MaxMetaspaceSize=256m", "-XX:TieredStopAtLevel=1", "-XX:-UsePerfData")
MEMORY_MB = 3072  # address space per process: what the JVM above reserves, with room
QUIET_CDS = ("-Xlog:cds=off", "-Xlog:cds+dynamic=off")  # an archive the JVM refuses is not a line of output
# what the archive is made from: a program that uses what MultiPL-E's Java programs use (javatuples, generics,
# collections, streams, lambdas, Optional, assert)
TRAINING = """import java.util.*;
import java.lang.reflect.*;
import org.javatuples.*;
import java.security.*;
import java.math.*;
import java.io.*;
import java.util.stream.*;
class Problem {
    public static Pair<Long, Long> f(ArrayList<Long> xs, HashMap<String, Long> m, Optional<String> o) {
        long s = xs.stream().mapToLong(x -> x).sum();
        List<String> ks = m.keySet().stream().sorted().collect(Collectors.toList());
        StringBuilder b = new StringBuilder(o.orElse(""));
        for (String k : ks) { b.append(String.format("%s=%d", k, m.get(k))); }
        return Pair.with(s, (long) b.length() + BigInteger.ONE.longValue() + (long) Math.floor(Math.sqrt(s)));
    }
    public static void main(String[] args) {
        assert(f(new ArrayList<Long>(Arrays.asList((long)1l, (long)2l)), new HashMap<String, Long>(Map.of("a", 1l)),
                 Optional.of("x")).equals((Pair.with(3l, 6l))));
    }
}
"""


@functools.cache
def javac_archive() -> str | None:
    """The CDS archive of javac's classes (made here once if missing), or None where it cannot be made."""
    javac = shutil.which("javac")
    if javac is None or os.environ.get("EVALKIT_JAVA_CDS", "1") == "0":
        return None
    version = tool_version(["java", "-version"], "stderr", timeout=120)
    if version is None:
        return None

    def build(tmp: Path) -> bool:
        (tmp / "Problem.java").write_text(TRAINING)
        r = subprocess.run(["javac", *(f"-J{f}" for f in JVM), f"-J-XX:ArchiveClassesAtExit={tmp / 'javac.jsa'}",
                            *(f"-J{f}" for f in QUIET_CDS), "-encoding", "UTF8", "-cp", JAVATUPLES, "-d", str(tmp),
                            str(tmp / "Problem.java")], capture_output=True, timeout=600, cwd=tmp)
        for f in tmp.iterdir():
            if f.name != "javac.jsa":
                f.unlink()
        return r.returncode == 0

    folder = built_once("java-cds", cache_key(version, os.path.realpath(javac), *JVM), "javac.jsa", build)
    return str(folder / "javac.jsa") if folder else None


class Java(Language):
    def steps(self, run_cpu_s: float) -> tuple[Step, ...]:
        jsa = javac_archive()
        cds = (f"-XX:SharedArchiveFile={jsa}", *QUIET_CDS) if jsa else ()
        return (Step(argv=("javac", *(f"-J{f}" for f in (*JVM, *cds)), "-encoding", "UTF8", "-cp", JAVATUPLES,
                           "-d", ".", "Problem.java"), name="compile", cpu_s=self.build_timeout,
                     wall_s=2 * self.build_timeout + 10, memory_mb=MEMORY_MB, max_processes=64),
                Step(argv=("java", *JVM, "-ea", "-cp", f".:{JAVATUPLES}", "Problem"), name="run", cpu_s=run_cpu_s,
                     memory_mb=MEMORY_MB, max_processes=64))

    def sandbox_paths(self) -> tuple[str, ...]:
        jsa = javac_archive()
        return (*alternatives("java"), *alternatives("javac"), *jdk_config(), JAVATUPLES,
                *((os.path.dirname(jsa),) if jsa else ()))

    def prepare(self) -> tuple[str, ...]:
        return self.sandbox_paths()


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
                "address-space limit; javac's classes from a class-data-sharing archive; javatuples from Debian "
                "(same 1.2 release)",
    build_timeout=30.0, run_timeout=10.0,
)
