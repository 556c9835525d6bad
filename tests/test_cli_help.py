"""Issue 14: what people read: every option described, examples per verb, the paper references listed, summary
wording, progress bars on odd terminals (transformers' bar in logs: test_runner_hf's end-to-end test)."""

from __future__ import annotations

import argparse
import json
import os
import sys

import pytest
from conftest import evalkit

from evalkit.cli import _parser


def _verbs() -> dict[str, argparse.ArgumentParser]:
    sub = next(a for a in _parser()._actions if isinstance(a, argparse._SubParsersAction))
    return dict(sub.choices)


def test_every_option_of_every_verb_is_described_with_examples():
    verbs = _verbs()
    assert set(verbs) >= {"tasks", "run", "evaluate", "prompt", "compare", "check", "report"}
    for verb, p in verbs.items():
        for a in p._actions:
            assert a.help and a.help != argparse.SUPPRESS, f"{verb} {a.option_strings or a.dest} has no help"
        assert p.epilog and "examples:\n  evalkit " + verb in p.epilog, verb
    text = verbs["check"].format_help()
    assert "exit codes: 0" in text and "paper:codellama-7b-python" in text and "paper:llama2-70b" in text
    assert "paper:codellama-7b" in verbs["compare"].format_help()
    assert "default: report.html" in verbs["report"].format_help()
    assert "0: no limit" in verbs["run"].format_help() and "oracle" in verbs["run"].format_help()


def test_version():
    from evalkit import __version__

    r = evalkit("--version")
    assert r.returncode == 0 and r.stdout.strip() == f"evalkit {__version__}"


def test_summary_says_1_sample_and_uneven_counts_plainly(tmp_path):
    r = evalkit("run", "--limit", "1", "--output-dir", str(tmp_path / "a"))
    assert r.returncode == 0 and "humaneval: 1 problem x 1 sample  pass@1" in r.stdout, r.stdout
    from evalkit.registry import get_task

    p0, p1 = get_task("humaneval").problems()[:2]
    f = tmp_path / "s.jsonl"
    f.write_text("".join(json.dumps({"task_id": p.task_id, "completion": p.reference}) + "\n" for p in (p0, p0, p1)))
    r = evalkit("evaluate", "--task", "humaneval", str(f), "--output-dir", str(tmp_path / "b"))
    assert r.returncode == 0 and "humaneval: 2 problems x 1-2 samples (uneven)" in r.stdout, r.stdout
    assert "{" not in r.stdout


def test_bars_keep_their_width_on_a_terminal_that_reports_no_columns(tmp_path):
    pty = pytest.importorskip("pty")
    import fcntl
    import struct
    import subprocess
    import termios

    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 0, 0, 0))
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    p = subprocess.Popen([sys.executable, "-m", "evalkit", "run", "--limit", "3", "--output-dir", str(tmp_path / "o")],
                         stdout=subprocess.DEVNULL, stderr=slave, env=env)
    os.close(slave)
    out = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
    assert p.wait() == 0
    text = out.decode(errors="replace")
    assert "generate humaneval: 100%|" + "\u2588" * 10 in text and "sample/s]" in text, text[-500:]
