"""``evalkit tasks`` says which MultiPL-E languages can run on this machine: the toolchain is here, or the Debian
packages to install. A missing toolchain is a PATH without it (the real command, the real lookup)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from conftest import evalkit

from evalkit import langs


def toolchain_line(stdout: str) -> str:
    lines = [x for x in stdout.splitlines() if x.startswith("MultiPL-E toolchains:")]
    assert len(lines) == 1, stdout
    return lines[0]


def test_tasks_names_the_languages_that_can_run_here() -> None:
    r = evalkit("tasks")
    assert r.returncode == 0, r.stderr
    line = toolchain_line(r.stdout)
    for key in langs.KEYS:
        lang = langs.get(key)
        if lang.missing():
            assert f"{lang.title} (no " in line and "apt-get install" in line
        else:
            assert lang.title in line.split("; cannot:")[0], (lang.title, line)


def test_a_toolchain_missing_from_path_is_named_with_its_package(tmp_path: Path) -> None:
    php = langs.get("php")
    if php.missing():
        pytest.skip("php is not installed here: nothing to take away (apt-get install php-cli)")
    bin_dir = tmp_path / "bin"  # every toolchain program found now, but php
    bin_dir.mkdir()
    for key in langs.KEYS:
        for program, _ in langs.get(key).programs:
            where = shutil.which(program)
            if program != "php" and where:
                os.symlink(where, bin_dir / program)
    r = evalkit("tasks", env={"PATH": str(bin_dir)})
    assert r.returncode == 0, r.stderr
    line = toolchain_line(r.stdout)
    assert "cannot: PHP (no php: apt-get install php-cli)" in line, line
    assert "PHP" not in line.split("; cannot:")[0]
    assert langs.get("cpp").missing() or "C++" in line.split("; cannot:")[0]  # the others still can
    row = next(x for x in r.stdout.splitlines() if x.startswith("multiple-php "))
    assert "[needs: apt-get install php-cli]" in row
