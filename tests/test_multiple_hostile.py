"""Issue 19: hostile programs in compiled languages (C++, Java) and Bash, built and run by the languages' own
steps in the real sandbox: fork and thread bombs, memory bombs, unbounded output, writes outside the scratch
folder, a socket to a loopback server, reading planted secrets. Each is contained: the right verdict, nothing of
it left running, no file outside the scratch changed, no connection, no secret read."""

from __future__ import annotations

import os
import time

import pytest
from conftest import REPO, sample_procs

from evalkit import langs
from evalkit.registry import get_task
from evalkit.sandbox import SandboxConfig
from evalkit.sandbox.pool import Job, SandboxPool

FIX = REPO / "tests" / "data" / "multiple"
SECRET = "evalkit-planted-secret-7f3a"
# The JVM zeroes every array it hands out, so the Java memory bomb touches its whole 1 GiB heap before the
# OutOfMemoryError: 0.8-1.7 s of CPU on an idle machine, past 3 s in a loaded CI run (page faults are slow there).
# Its own limit keeps the verdict about memory, which is what the case is for.
LIMIT_S = {"java:memory_bomb": 20.0}


@pytest.fixture(scope="module")
def planted(sentinel, tmp_path_factory):
    """A folder shown to samples read-only (writes must fail on it) and a secret file that is not shown."""
    d = sentinel
    hidden = tmp_path_factory.mktemp("hidden")
    (hidden / "secret.txt").write_text(SECRET)
    os.chmod(hidden, 0o755)
    os.chmod(hidden / "secret.txt", 0o644)
    return d, hidden / "secret.txt"


CPP_HEAD = "#include <bits/stdc++.h>\n#include <unistd.h>\n#include <sys/socket.h>\n#include <netinet/in.h>\n" \
           "#include <arpa/inet.h>\n"


def cpp_programs(keep: str, folder: str, secret: str, port: int) -> dict[str, tuple[str, set[str]]]:
    main = "int main() {\n%s\n}\n"
    return {
        "fork_bomb": (CPP_HEAD + main % "    while (true) fork();", {"timeout", "error"}),
        # 64 MiB blocks, 1 MiB of each written: the address-space limit (1 GiB) ends it at the 16th block. Writing
        # whole blocks would also be contained, but on a VM where a page fault costs ~1.5-3.5 us of system time,
        # touching 1 GiB can take longer than the 3 s CPU limit, and the verdict would read "timeout"
        "memory_bomb": (CPP_HEAD + main % "    std::vector<char*> v;\n    while (true) { char* p = new char[1 << 26];"
                        " memset(p, 1, 1 << 20); v.push_back(p); }", {"error"}),
        "unbounded_output": (CPP_HEAD + main % "    while (true) puts(\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\");",
                             {"timeout"}),
        "write_outside": (CPP_HEAD + main % (
            f"    assert(fopen(\"{keep}\", \"w\") == NULL);\n    assert(fopen(\"{folder}/new.txt\", \"w\") == NULL);\n"
            "    assert(fopen(\"/usr/bin/evil\", \"w\") == NULL);\n    assert(fopen(\"/etc/passwd\", \"a\") == NULL);"),
            {"passed"}),
        "socket": (CPP_HEAD + main % (
            "    int s = socket(AF_INET, SOCK_STREAM, 0);\n    sockaddr_in a{};\n    a.sin_family = AF_INET;\n"
            f"    a.sin_port = htons({port});\n    a.sin_addr.s_addr = inet_addr(\"127.0.0.1\");\n"
            "    assert(s < 0 || connect(s, (sockaddr*)&a, sizeof a) != 0);"), {"passed"}),
        "secrets": (CPP_HEAD + main % (
            f"    assert(fopen(\"{secret}\", \"r\") == NULL);\n    assert(getenv(\"HF_TOKEN\") == NULL);\n"
            "    assert(fopen(\"/root/.bashrc\", \"r\") == NULL);\n"
            "    FILE* e = fopen(\"/proc/1/environ\", \"r\");\n"
            "    if (e) { char b[65536]; size_t n = fread(b, 1, sizeof b - 1, e); b[n] = 0;\n"
            f"             for (size_t i = 0; i < n; i++) if (!b[i]) b[i] = ' ';\n"
            f"             assert(strstr(b, \"{SECRET}\") == NULL); }}"), {"passed"}),
        "survivor": (CPP_HEAD + main % "    if (fork() == 0) { setsid(); sleep(300); }\n    return 0;", {"passed"}),
    }


def java_programs(keep: str, secret: str, port: int) -> dict[str, tuple[str, set[str]]]:
    head = "import java.util.*;\nimport java.io.*;\nimport java.net.*;\nimport java.nio.file.*;\nclass Problem {\n" \
           "    public static void main(String[] args) throws Exception {\n"
    tail = "\n    }\n}\n"
    return {
        # threads past the limit fail; the JVM then waits for its sleeping threads: the wall clock ends it
        "thread_bomb": (head + "        while (true) { Thread t = new Thread(() -> { try { Thread.sleep(1000000); }"
                        " catch (Exception e) {} }); t.start(); }" + tail, {"error", "timeout"}),
        "memory_bomb": (head + "        List<long[]> l = new ArrayList<>();\n        while (true) l.add(new long[1 << 24]);"
                        + tail, {"error"}),
        "unbounded_output": (head + "        while (true) System.out.println(\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxx\");" + tail,
                             {"timeout"}),
        "write_outside": (head + f"        try {{ new FileWriter(\"{keep}\").write(\"gone\"); assert false; }}"
                          " catch (IOException e) {}" + tail, {"passed"}),
        "socket": (head + f"        try {{ new Socket(\"127.0.0.1\", {port}).close(); assert false; }}"
                   " catch (IOException e) {}" + tail, {"passed"}),
        "secrets": (head + f"        try {{ Files.readString(Path.of(\"{secret}\")); assert false; }}"
                    " catch (IOException e) {}\n        assert System.getenv(\"HF_TOKEN\") == null;" + tail,
                    {"passed"}),
    }


def sh_programs(keep: str, folder: str, secret: str, port: int) -> dict[str, tuple[str, set[str]]]:
    return {
        "fork_bomb": ("f() { f | f & }\nf\nsleep 30\n", {"timeout", "error", "passed"}),
        "unbounded_output": ("yes\n", {"timeout"}),
        "write_outside": (f"set -e\n! echo gone > {keep}\n! touch {folder}/new.txt\n! rm -f {keep}\n"
                          "! echo x > /usr/bin/evil\n", {"passed"}),
        "socket": (f"set -e\n! exec 3<>/dev/tcp/127.0.0.1/{port}\n", {"passed"}),
        "secrets": (f"set -e\n! cat {secret}\n[[ -z $HF_TOKEN ]]\n! grep -a {SECRET} /proc/1/environ\n"
                    "! ls /root/.ssh\n", {"passed"}),
        "survivor": ("(setsid sleep 300 &)\nnohup sleep 300 >/dev/null 2>&1 &\nexit 0\n", {"passed"}),
    }


HARMLESS = {"cpp": "int main() { return 0; }\n", "java": "class Problem { public static void main(String[] a) {} }\n",
            "sh": "exit 0\n"}


def test_hostile_programs_are_contained(planted, server, monkeypatch):
    folder, secret = planted
    keep = folder / "keep.txt"
    port, hits = server
    monkeypatch.setenv("HF_TOKEN", SECRET)
    cases: dict[str, tuple] = {}
    tasks = {}
    for lang, make in (("cpp", lambda: cpp_programs(str(keep), str(folder), str(secret), port)),
                       ("java", lambda: java_programs(str(keep), str(secret), port)),
                       ("sh", lambda: sh_programs(str(keep), str(folder), str(secret), port))):
        if langs.get(lang).missing():
            continue
        tasks[lang] = t = get_task(f"multiple-{lang}", data_dir=str(FIX))
        for name, (program, ok) in make().items():
            key = f"{lang}:{name}"
            cases[key] = (t, t.program_spec(program, LIMIT_S.get(key, 3.0)), ok)
    if not cases:
        pytest.skip("no toolchain here: apt-get install g++ default-jdk-headless libjavatuples-java")
    paths = [str(folder)]
    for t in tasks.values():
        paths += [p for p in t.sandbox_paths() if p not in paths]
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    got = {}
    with SandboxPool(SandboxConfig(extra_paths=tuple(paths)), workers=2) as pool:
        pool.run([Job(k, spec) for k, (_, spec, _) in cases.items()],
                 lambda j, f: got.__setitem__(j.key, (cases[j.key][0].judge(None, {}, f), f)))
        if pool.layers.get("mode") == "root":  # nothing is left under the samples' uids (reaped within 5 s)
            roots = [w.proc.pid for w in pool._workers]
            deadline = time.time() + 5
            while sample_procs(roots) and time.time() < deadline:
                time.sleep(0.1)
            assert sample_procs(roots) == []
        # the harness survived and still works
        ok = []
        first = next(iter(tasks))
        pool.run([Job("ok", tasks[first].program_spec(HARMLESS[first], 3.0))], lambda j, f: ok.append(f))
        assert tasks[first].judge(None, {}, ok[0]).outcome == "passed", ok[0]
    wrong = {k: (v.outcome, v.detail[:200]) for k, (v, _) in got.items() if v.outcome not in cases[k][2]}
    assert not wrong, wrong
    for k, (_, facts) in got.items():
        for st in facts.steps:
            assert len(st.stdout.encode()) <= 1 << 16 and len(st.stderr.encode()) <= 1 << 16
            assert SECRET not in st.stdout and SECRET not in st.stderr, k
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before
    assert hits == []
    assert not os.path.exists("/usr/bin/evil")
