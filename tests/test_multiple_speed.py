"""Issue 19, speed: what makes a language's compile fast never changes what the compiler says.

The TypeScript compile runs from a node start-up snapshot of tsc (``evalkit.langs.tsc_snapshot``): its messages,
exit status and JavaScript are the plain tsc's. javac starts from a class-data-sharing archive: the JVM accepts
it (``-Xshare:on`` makes a JVM that cannot use it fail) and the compile is the same. Real compilers, outside the
sandbox (the sandbox's own runs are in test_multiple.py, with the caches on).
"""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest
from conftest import REPO

from evalkit import langs
from evalkit.registry import get_task

FIX = REPO / "tests" / "data" / "multiple"
PROGRAMS = json.loads((FIX / "programs.json").read_text())


def need(lang: str) -> None:
    miss = langs.get(lang).missing()
    if miss:
        pkgs = " ".join(dict.fromkeys(p for _, p in miss))
        pytest.skip(f"the {lang} toolchain is missing: apt-get install {pkgs}")


def programs(lang: str, expects: tuple[str, ...]) -> list[tuple[str, str]]:
    t = get_task(f"multiple-{lang}", data_dir=str(FIX))
    problems = {p.task_id: p for p in t.problems()}
    return [(f["expect"], t.program(problems[f["task_id"]], {"completion": f["completion"]}))
            for f in PROGRAMS if f["lang"] == lang and f["expect"] in expects]


def compile_in(folder, name: str, text: str, argv) -> tuple:
    folder.mkdir()
    (folder / name).write_text(text)
    r = subprocess.run(argv, cwd=folder, capture_output=True, text=True, timeout=600)
    out = sorted(p.name for p in folder.iterdir())
    js = (folder / "main.js").read_text() if (folder / "main.js").exists() else None
    return r.returncode, r.stdout, r.stderr, out, js


def test_tsc_from_the_snapshot_says_what_tsc_says(tmp_path):
    need("ts")
    from evalkit.langs import ts
    from evalkit.langs.tsc_snapshot import snapshot

    blob = snapshot(ts.TSC_OPTIONS)
    if blob is None:
        pytest.skip("this node cannot build a start-up snapshot (node >= 18.20 can): the plain tsc runs")
    step = ts.LANGUAGE.steps(10.0)[0]
    assert step.argv[:2] == ("node", f"--snapshot-blob={blob}")
    for i, (expect, text) in enumerate(programs("ts", ("passed", "compile_error"))[:2]
                                       + programs("ts", ("compile_error",))):
        plain = compile_in(tmp_path / f"plain{i}", "main.ts", text, ("tsc", *ts.TSC_OPTIONS, "main.ts"))
        snap = compile_in(tmp_path / f"snap{i}", "main.ts", text, step.argv)
        assert snap == plain, expect
        assert (plain[0] != 0) == (expect == "compile_error")


def test_javac_maps_its_class_data_archive_and_compiles_the_same(tmp_path):
    need("java")
    from evalkit.langs import java

    jsa = java.javac_archive()
    if jsa is None:
        pytest.skip("this JDK cannot dump a dynamic class-data-sharing archive (JDK >= 13 can)")
    argv = java.LANGUAGE.steps(10.0)[0].argv
    assert f"-J-XX:SharedArchiveFile={jsa}" in argv
    strict = (argv[0], "-J-Xshare:on", *argv[1:])  # a JVM that cannot map the archive fails at start
    plain = tuple(a for a in argv if "SharedArchiveFile" not in a and "Xlog:cds" not in a)
    for i, (expect, text) in enumerate(programs("java", ("passed", "compile_error"))):
        a = compile_in(tmp_path / f"cds{i}", "Problem.java", text, strict)
        b = compile_in(tmp_path / f"plain{i}", "Problem.java", text, plain)
        assert a == b, expect
        assert (a[0] != 0) == (expect == "compile_error")


def test_the_caches_live_under_evalkits_cache_dir(tmp_path, monkeypatch, request):
    if shutil.which("javac") is None:
        pytest.skip("javac is missing: apt-get install default-jdk-headless")
    from evalkit.langs import java

    monkeypatch.setenv("EVALKIT_CACHE_DIR", str(tmp_path / "cache"))
    java.javac_archive.cache_clear()  # made anew under this cache dir; cleared again after, for later tests
    request.addfinalizer(java.javac_archive.cache_clear)
    jsa = java.javac_archive()
    if jsa is None:
        pytest.skip("this JDK cannot dump a dynamic class-data-sharing archive")
    assert jsa.startswith(str(tmp_path / "cache" / "java-cds"))
    assert [p.name for p in (tmp_path / "cache" / "java-cds").iterdir()] == [jsa.split("/")[-2]]  # no leftovers
    assert java.javac_archive() == jsa
