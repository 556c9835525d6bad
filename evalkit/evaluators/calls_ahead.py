"""The calls a test is sure to make, read from its syntax before it runs, so they can be sent ahead.

Under the "runs to the end" rule each call of the sample's function from the test code is a round trip to the
sample's process. Most tests (HumanEval's ``check``, MBPP's asserts) begin with a straight run of statements
whose calls of the sample's functions have literal arguments: those calls are made, in this order, until one of
them fails or raises. The driver sends them ahead in one write (``call.send_ahead`` in
``evalkit.sandbox.drive``); the sample's process answers them in order and each stub takes the next answer when
its call is the one sent ahead (same name, same encoded arguments), so the verdict is the one the calls would
have given one by one. The reading is conservative: it stops at the first statement that could branch, loop,
catch, return, or call anything but a builtin or the sample's functions, and at any use of a sample function
other than a direct call with literal arguments.
"""

from __future__ import annotations

import ast
import builtins
import functools

MAX_CALLS = 256
MAX_CHARS = 1 << 14  # the literal arguments sent ahead, in all: well inside one pipe buffer

_BUILTINS = frozenset(dir(builtins))
_BRANCHING = (ast.BoolOp, ast.IfExp, ast.Lambda, ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp,
              ast.NamedExpr, ast.Await, ast.Yield, ast.YieldFrom, ast.Starred, ast.JoinedStr)


class _Stop(Exception):
    pass


class _StopInside(_Stop):
    """Stopped inside an inlined function: its statements read so far stand."""


def _bound(tree: ast.AST) -> set[str]:
    """Every name a piece of code binds anywhere (assignments, definitions, imports, parameters)."""
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            out.add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            out.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            out.update((a.asname or a.name).split(".")[0] for a in node.names)
        elif isinstance(node, ast.arg):
            out.add(node.arg)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            out.add(node.name)
    return out


_CONSTANT_NODES = (ast.Constant, ast.UnaryOp, ast.BinOp, ast.Tuple, ast.List, ast.Dict, ast.Load, ast.operator,
                   ast.unaryop)


def _literal(node: ast.AST) -> object:
    """A literal or arithmetic on literals (``3 * 19``, ``'ab' + 'c'``): evaluated here exactly as the test's own
    evaluation of it will give it."""
    for n in ast.walk(node):
        if not isinstance(n, _CONSTANT_NODES):
            raise _Stop
        if isinstance(n, ast.BinOp) and isinstance(n.op, (ast.Pow, ast.LShift)):
            if not (isinstance(n.right, ast.Constant) and isinstance(n.right.value, int) and n.right.value <= 64):
                raise _Stop
    value = eval(compile(ast.Expression(body=node), "<literal>", "eval"), {"__builtins__": {}})  # noqa: S307

    def plain(v: object) -> bool:  # sets travel in iteration order, which hashing makes differ: not sent ahead
        if isinstance(v, (set, frozenset)):
            return False
        if isinstance(v, (list, tuple)):
            return all(plain(x) for x in v)
        if isinstance(v, dict):
            return all(plain(k) and plain(x) for k, x in v.items())
        return True

    if not plain(value):
        raise _Stop
    return value


class _Reader:
    def __init__(self, shadowed: set[str], funcs: dict[str, ast.FunctionDef]) -> None:
        self.shadowed, self.funcs = shadowed, funcs
        self.out: list[tuple[str, tuple, dict]] = []
        self.chars = 0

    def body(self, stmts: list[ast.stmt], tracked: dict[str, str], depth: int) -> None:
        for st in stmts:
            mark = len(self.out)
            try:
                self.statement(st, tracked, depth)
            except _StopInside:
                raise
            except _Stop:
                del self.out[mark:]  # a statement is sent ahead whole or not at all
                raise

    def statement(self, st: ast.stmt, tracked: dict[str, str], depth: int) -> None:
        if isinstance(st, (ast.FunctionDef, ast.AsyncFunctionDef)):
            # a definition runs nothing but its decorators and defaults
            if st.name in tracked or st.decorator_list or st.args.defaults or any(st.args.kw_defaults):
                raise _Stop
        elif isinstance(st, (ast.Import, ast.ImportFrom)):
            if any((a.asname or a.name).split(".")[0] in tracked for a in st.names):
                raise _Stop
        elif isinstance(st, ast.Pass):
            pass
        elif isinstance(st, ast.Assert):
            if st.msg is not None and any(isinstance(n, ast.Name) and n.id in tracked for n in ast.walk(st.msg)):
                raise _Stop
            self.expr(st.test, tracked)
        elif isinstance(st, ast.Assign):
            if not all(isinstance(t, ast.Name) and t.id not in tracked for t in st.targets):
                raise _Stop
            self.expr(st.value, tracked)
        elif isinstance(st, ast.Expr):
            inner = self.inlined(st.value, tracked, depth)
            if inner is None:
                self.expr(st.value, tracked)
            else:
                fn, mapping = inner
                try:
                    self.body(fn.body, {**{k: v for k, v in tracked.items() if k not in mapping}, **mapping},
                              depth + 1)
                except _Stop:
                    raise _StopInside from None
        else:
            raise _Stop

    def inlined(self, node: ast.expr, tracked: dict[str, str],
                depth: int) -> tuple[ast.FunctionDef, dict[str, str]] | None:
        """``check(candidate)``: the test's own function called with the sample's functions only."""
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in self.funcs):
            return None
        fn = self.funcs[node.func.id]
        a = fn.args
        params = [p.arg for p in a.posonlyargs + a.args]
        if (depth > 0 or node.keywords or a.vararg or a.kwarg or a.kwonlyargs or len(params) != len(node.args)
                or not all(isinstance(x, ast.Name) and x.id in tracked for x in node.args)):
            raise _Stop
        inner_bound = _bound(ast.Module(body=fn.body, type_ignores=[]))
        mapping = {p: tracked[x.id] for p, x in zip(params, node.args)}  # type: ignore[attr-defined]
        if inner_bound & set(mapping):
            raise _Stop
        return fn, mapping

    def expr(self, node: ast.AST, tracked: dict[str, str]) -> None:
        """Walk an expression in evaluation order, collecting the sample's calls; stop where order is unsure."""
        if isinstance(node, _BRANCHING):
            raise _Stop
        if isinstance(node, ast.Compare) and len(node.ops) > 1:  # a chained comparison stops early
            raise _Stop
        if isinstance(node, ast.Name):
            if node.id in tracked:  # the sample's function used as a value: called who knows when
                raise _Stop
            return
        if isinstance(node, ast.Dict):
            for k, v in zip(node.keys, node.values):
                if k is None:
                    raise _Stop
                self.expr(k, tracked)
                self.expr(v, tracked)
            return
        if isinstance(node, ast.Call):
            f = node.func
            if isinstance(f, ast.Name) and f.id in tracked:
                if any(isinstance(x, ast.Starred) for x in node.args) or any(k.arg is None for k in node.keywords):
                    raise _Stop
                try:
                    args = tuple(_literal(x) for x in node.args)
                    kwargs = {k.arg: _literal(k.value) for k in node.keywords}
                except (ArithmeticError, ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
                    raise _Stop from None
                self.chars += len(repr((args, kwargs)))
                if len(self.out) >= MAX_CALLS or self.chars > MAX_CHARS:
                    raise _Stop
                self.out.append((tracked[f.id], args, kwargs))
                return
            if isinstance(f, ast.Name):
                if f.id in self.shadowed or f.id not in _BUILTINS:
                    raise _Stop
            else:
                self.expr(f, tracked)
            for x in node.args:
                self.expr(x, tracked)
            for k in node.keywords:
                self.expr(k.value, tracked)
            return
        for child in ast.iter_child_nodes(node):
            self.expr(child, tracked)


@functools.lru_cache(maxsize=4096)
def calls_ahead(test: str, setup: str, names: tuple[str, ...]) -> tuple[tuple[str, tuple, dict], ...]:
    """The calls ``(name, args, kwargs)`` of the sample's functions ``names`` that ``test`` (run after
    ``setup``) is sure to make first, in their order."""
    try:
        tree = ast.parse(test)
        setup_tree = ast.parse(setup) if setup else None
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return ()
    shadowed = _bound(tree) | (_bound(setup_tree) if setup_tree else set())
    funcs = {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef)}
    reader = _Reader(shadowed, funcs)
    try:
        reader.body(tree.body, {n: n for n in names}, 0)
    except (_Stop, RecursionError):
        pass
    return tuple(reader.out)


_DYNAMIC = frozenset({"exec", "eval", "globals", "locals", "vars", "getattr", "setattr", "delattr", "__import__",
                      "compile", "breakpoint"})
_INTROSPECTION = frozenset({"_getframe", "f_locals", "f_globals", "f_back", "__dict__", "__globals__", "tb_frame",
                            "__code__", "__closure__", "__builtins__"})


def _parents(tree: ast.AST) -> dict[ast.AST, ast.AST]:
    return {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}


def _tracked_calls_only_in_asserts(tree: ast.AST, tracked: set[str], funcs: set[str]) -> bool:
    parent = _parents(tree)
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id in _DYNAMIC:
            return False
        if isinstance(node, ast.Attribute) and node.attr in _INTROSPECTION:
            return False
        if isinstance(node, (ast.Global, ast.Nonlocal)):
            return False
        if not (isinstance(node, ast.Name) and node.id in tracked):
            continue
        if not isinstance(node.ctx, ast.Load):
            return False
        call = parent.get(node)
        if not isinstance(call, ast.Call):
            return False
        if call.func is not node:  # an argument: only of the test's own function, at the top (check(candidate))
            if not (isinstance(call.func, ast.Name) and call.func.id in funcs and node in call.args
                    and isinstance(parent.get(call), ast.Expr) and isinstance(parent.get(parent[call]), ast.Module)):
                return False
            continue
        cmp = parent.get(call)
        if not (isinstance(cmp, ast.Compare) and cmp.left is call and len(cmp.ops) == 1
                and isinstance(cmp.ops[0], ast.Eq) and isinstance(parent.get(cmp), ast.Assert)
                and parent[cmp].test is cmp):
            return False
        inner = [*call.args, *(k.value for k in call.keywords), *cmp.comparators]
        if any(isinstance(n, ast.Name) and n.id in tracked for x in inner for n in ast.walk(x)):
            return False
    return True


@functools.lru_cache(maxsize=4096)
def speculable(test: str, setup: str, names: tuple[str, ...]) -> bool:
    """Whether the calls of ``test`` can be found by running it once with answers that pass every assert: true
    when the sample's functions appear only as ``assert f(args) == expected`` (their answers then decide
    nothing but that assert: until an assert fails, the calls made are those of such a run, in its order)
    and nothing reaches them another way (the setup's helpers, ``globals()``, frames)."""
    try:
        tree = ast.parse(test)
        setup_tree = ast.parse(setup) if setup else ast.Module(body=[], type_ignores=[])
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return False
    funcs = {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef)}
    tracked = set(names)
    for node in ast.walk(tree):  # check(candidate): the parameter stands for the sample's function
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in funcs:
            fn = funcs[node.func.id]
            params = [p.arg for p in fn.args.posonlyargs + fn.args.args]
            for p, a in zip(params, node.args):
                if isinstance(a, ast.Name) and a.id in names:
                    tracked.add(p)
    if tracked & set(funcs) or not _tracked_calls_only_in_asserts(tree, tracked, set(funcs)):
        return False
    for node in setup_tree.body:  # the setup may name the sample's function only in its own definition
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name in tracked:
            continue
        if any(isinstance(n, ast.Name) and n.id in tracked for n in ast.walk(node)):
            return False
    return True
