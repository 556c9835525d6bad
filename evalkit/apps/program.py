"""The sample's side of an APPS test run: the module ``testing_util`` builds from a solution, and the trusted
runner that serves it to the driver (``evalkit/apps/judge.py``), one call per test.

``testing_util.run_test`` builds a module ``tmp_sol`` from a fixed import prelude plus the solution:

* call-based (``fn_name`` given): the solution as is; the function is the module's ``fn_name``, or the
  method of a fresh ``Solution()`` when the solution text holds ``class Solution``;
* standard input: the solution's lines wrapped into ``def code():`` (every line that does not start with
  ``from ``/``import `` gets a tab in front; the import lines before the first such line stay at module level,
  later ones are indented too), after ``stdin = sys.stdin`` / ``stdout = sys.stdout``; the function is ``code``.
  So ``if __name__ == "__main__":`` is false (the module is ``tmp_sol``) and top-level names are locals.

Each standard-input test runs ``code()`` with ``sys.stdin`` a ``StringIO`` of the input, ``builtins.open``
mocked to read the input, ``readline``/``readlines``/``read`` patched (the real ``sys.stdin``'s, since
``unittest.mock`` starts the patches in that order) and ``sys.stdout`` captured; ``SystemExit`` counts as a
normal end. The module is built once per sample and its function called once per test, in one process.
"""

from __future__ import annotations

PRELUDE = (
    "import sys\nimport time\nimport itertools\nfrom itertools import accumulate, product, permutations, "
    "combinations\nimport collections\nfrom collections import Counter, OrderedDict, deque, defaultdict, "
    "ChainMap\nfrom functools import lru_cache\nimport math\nfrom math import sqrt, sin, cos, tan, ceil, fabs, "
    "floor, gcd, exp, log, log2\nimport fractions\nfrom typing import List, Tuple\nimport numpy as np\n"
    "import random\nimport heapq\nfrom heapq import *\n"
)


def _is_import(line: str) -> bool:
    return line.startswith("from ") or line.startswith("import ")


def stdin_module(solution: str) -> str:
    """The module testing_util builds for a standard-input solution (its ``code`` function runs it)."""
    lines = [x + "\n" if _is_import(x) else "\t" + x + "\n" for x in solution.split("\n")]
    out, started = "", False
    for x in lines:
        if x.startswith("\t") and not started:
            out += "stdin = sys.stdin\nstdout = sys.stdout\ndef code():\n" + x
            started = True
        elif started and _is_import(x):
            out += "\t" + x
        else:
            out += x
    return PRELUDE + out


def call_module(solution: str) -> str:
    return PRELUDE + solution


# The serving step's source: RUNNER, then one line binding _SPEC (the module text, the mode, the function).
RUNNER = r'''
import io as _io
import sys as _sys
import types as _types
from unittest.mock import mock_open as _mock_open
from unittest.mock import patch as _patch

_state = {}


def _guard():
    """What testing_util's reliability_guard() does to the process before it builds the module (a sample that
    calls exit() or os.system gets a TypeError there, so here too). testing_util's process has already
    imported what the prelude imports (numpy too) when the guard runs: so has this one."""
    import builtins
    import collections, fractions, functools, heapq, itertools, math, random, time, typing  # noqa: E401, F401
    import numpy  # noqa: F401
    import os
    import shutil
    import subprocess

    builtins.exit = builtins.quit = builtins.help = None
    os.environ["OMP_NUM_THREADS"] = "1"
    for name in ("kill", "system", "putenv", "remove", "removedirs", "rmdir", "fchdir", "setuid", "fork",
                 "forkpty", "killpg", "rename", "renames", "truncate", "replace", "unlink", "fchmod", "fchown",
                 "chmod", "chown", "chroot", "lchflags", "lchmod", "lchown", "getcwd", "chdir"):
        setattr(os, name, None)
    shutil.rmtree = shutil.move = shutil.chown = None
    subprocess.Popen = None
    for name in ("ipdb", "joblib", "resource", "psutil", "tkinter"):
        _sys.modules[name] = None


def apps_load():
    """Build the module and find the function; the error text if that fails (testing_util's -2)."""
    src, mode, fn_name, with_class = _SPEC
    _guard()
    try:
        mod = _types.ModuleType("tmp_sol", "")
        exec(compile(src, "tmp_sol", "exec", dont_inherit=True), mod.__dict__)
        target = mod.Solution() if mode == "call" and with_class else mod
        _state["f"] = getattr(target, fn_name if mode == "call" else "code")
    except Exception as e:
        return f"{type(e).__name__}: {e}"[:500]
    return None


def apps_call(inputs):
    return _state["f"](*inputs)


def apps_stdin(text):
    """Run code() on one input: [ended normally, the captured stdout's lines, the exception if any]."""
    cap = _io.StringIO()
    cap.close = lambda x: 1
    saved = _sys.stdout
    _sys.stdout = cap
    ok, err = False, None
    try:
        lines = iter(text.split("\n"))

        @_patch("builtins.open", _mock_open(read_data=text))
        @_patch("sys.stdin", _io.StringIO(text))
        @_patch("sys.stdin.readline", lambda *a: next(lines))
        @_patch("sys.stdin.readlines", lambda *a: text.split("\n"))
        @_patch("sys.stdin.read", lambda *a: text)
        def run(f):
            try:
                return f()
            except SystemExit:
                pass

        try:
            run(_state["f"])
            ok = True
        except Exception as e:
            err = f"{type(e).__name__}: {e}"[:300]
    finally:
        _sys.stdout = saved
    return [ok, cap.getvalue().splitlines(), err]
'''


def serving_source(solution: str, fn_name: str | None) -> str:
    """The Python step that serves ``apps_load``/``apps_call``/``apps_stdin`` for this solution."""
    if fn_name:
        spec = (call_module(solution), "call", fn_name, "class Solution" in solution)
    else:
        spec = (stdin_module(solution), "stdin", "code", False)
    return RUNNER + f"\n_SPEC = {spec!r}\n"
