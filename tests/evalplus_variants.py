"""Varied samples for an EvalPlus problem (shared by the agreement test and bench/evalplus.py).

Each variant is built from the problem's canonical solution, so it is right or wrong in a known way: canonical
(as a solution and as a completion), wrong on plus inputs only, floats just inside / just outside the tolerance,
slow but correct, an exception, sequences in another order, None returns, prints, numpy (imported by the
solution, numpy floats returned), a syntax error, a missing entry point,
the typing import forgotten, inputs mutated in place, a hard exit, an error at load, an always-equal object, and (``slow_over=True``) a first call
slower than the 4 s per-input limit.
"""

from __future__ import annotations


def _wrap(row: dict, body: str, head: str = "") -> str:
    ep = row["entry_point"]
    return (row["prompt"] + row["canonical_solution"] + f"\n\n_ek_orig = {ep}\n{head}\n\ndef {ep}(*args):\n"
            + body)


def _no_typing(prompt: str) -> str:
    """The prompt without its typing imports: the annotations then name undefined types (NameError when the
    function is defined), as a model that forgets ``from typing import List`` writes."""
    lines = [ln for ln in prompt.splitlines(keepends=True) if not ln.startswith("from typing import")]
    return "".join(lines)


def variants(row: dict, slow_over: bool = False) -> list[tuple[str, dict]]:
    atol = row["atol"] or 1e-6
    nb = len(row["base_input"])
    out = [
        ("canonical-solution", {"solution": row["prompt"] + row["canonical_solution"]}),
        ("canonical-completion", {"completion": row["canonical_solution"]}),
        ("wrong-on-plus-only", {"solution": _wrap(
            row, f"    global _ek_n\n    _ek_n += 1\n    r = _ek_orig(*args)\n    return r if _ek_n <= {nb} else "
                 "('wrong', r)\n", "_ek_n = 0")}),
        ("float-inside", {"solution": _wrap(
            row, f"    r = _ek_orig(*args)\n    return r + {0.5 * atol!r} if type(r) is float else r\n")}),
        ("float-outside", {"solution": _wrap(
            row, f"    r = _ek_orig(*args)\n    return r + 3 * ({atol!r} + 1e-7 * abs(r)) if type(r) is float "
                 "else r\n")}),
        ("slow-correct", {"solution": _wrap(
            row, "    global _ek_n\n    _ek_n += 1\n    if _ek_n == 1:\n        import time\n        time.sleep(0.3)\n"
                 "    return _ek_orig(*args)\n", "_ek_n = 0")}),
        ("exception-2nd-call", {"solution": _wrap(
            row, "    global _ek_n\n    _ek_n += 1\n    if _ek_n == 2:\n        raise ValueError('boom')\n"
                 "    return _ek_orig(*args)\n", "_ek_n = 0")}),
        ("reversed-order", {"solution": _wrap(
            row, "    r = _ek_orig(*args)\n    return type(r)(reversed(r)) if type(r) in (list, tuple) else r\n")}),
        ("returns-none", {"solution": _wrap(row, "    _ek_orig(*args)\n    return None\n")}),
        ("prints", {"solution": _wrap(row, "    print('noise', args)\n    return _ek_orig(*args)\n",
                                      "print('module level noise')")}),
        ("uses-numpy", {"solution": _wrap(
            row, "    r = _ek_orig(*args)\n    np.zeros(1)\n    return np.float64(r) if type(r) is float else r\n",
            "import numpy as np")}),
        ("syntax-error", {"solution": row["prompt"] + row["canonical_solution"] + "\ndef broken(:\n    pass\n"}),
        ("no-entry-point", {"solution": "def something_else():\n    return 1\n"}),
        ("forgets-import", {"solution": _no_typing(row["prompt"]) + row["canonical_solution"]}),
        ("mutates-inputs", {"solution": _wrap(
            row, "    r = _ek_orig(*args)\n    for a in args:\n        if type(a) is list:\n            a.clear()\n"
                 "        elif type(a) is dict:\n            a.clear()\n    return r\n")}),
        ("crashes", {"solution": _wrap(row, "    import os\n    os._exit(3)\n")}),
        ("module-error", {"solution": row["prompt"] + row["canonical_solution"] + "\nraise RuntimeError('load')\n"}),
        ("always-equal", {"solution": _wrap(
            row, "    return _EkAny()\n", "class _EkAny:\n    def __eq__(self, other):\n        return True\n"
                 "    def __ne__(self, other):\n        return False\n    __hash__ = object.__hash__")}),
    ]
    if slow_over:
        out.append(("slow-over-limit", {"solution": _wrap(
            row, "    global _ek_n\n    _ek_n += 1\n    if _ek_n == 1:\n        import time\n        time.sleep(5.5)\n"
                 "    return _ek_orig(*args)\n", "_ek_n = 0")}))
    return out
