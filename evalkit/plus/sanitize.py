"""``evalplus.sanitize`` (evalplus 0.3.1 ``evalplus/sanitize.py``, tree-sitter based) on the standard ``ast`` module.

Same steps and rules:
  1. ``code_extract``: the line range (two lines or more) that parses and has the most non-blank lines; the first
     such range wins (evalkit skips ranges that cannot beat the best so far, which changes nothing but the time);
  2. keep every top-level import (not ``from __future__``), then the top-level definitions the entry point
     reaches through identifiers: undecorated classes, undecorated functions that contain a ``return``, and
     assignments to a plain name; the first definition of a name wins; everything else (tests, prints,
     ``if __name__ == ...``, decorated definitions) is dropped;
  3. an empty result falls back to the extracted code.
Output is the kept source segments joined by newlines, as evalplus writes them.
"""

from __future__ import annotations

import ast
from itertools import accumulate


def _parses(code: str) -> bool:
    try:
        ast.parse(code)
        return True
    except (SyntaxError, MemoryError, ValueError, RecursionError):
        return False


def code_extract(text: str) -> str:
    lines = text.split("\n")
    n = len(lines)
    nonblank = [0, *accumulate(1 if line.strip() else 0 for line in lines)]
    best, longest = (0, 0), 0
    for i in range(n):
        if nonblank[n] - nonblank[i] <= longest:
            continue
        for j in range(i + 1, n):
            length = nonblank[j + 1] - nonblank[i]
            if length <= longest:
                continue
            if _parses("\n".join(lines[i:j + 1])):
                longest, best = length, (i, j)
    return "\n".join(lines[best[0]:best[1] + 1])


def _identifiers(node: ast.AST) -> set[str]:
    """Every identifier in the subtree (tree-sitter's ``identifier`` nodes: names, attributes, parameters...)."""
    out: set[str] = set()
    for n in ast.walk(node):
        if isinstance(n, ast.Name):
            out.add(n.id)
        elif isinstance(n, ast.Attribute):
            out.add(n.attr)
        elif isinstance(n, ast.arg):
            out.add(n.arg)
        elif isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            out.add(n.name)
        elif isinstance(n, ast.alias):
            out.update(n.name.split("."))
            if n.asname:
                out.add(n.asname)
        elif isinstance(n, ast.ImportFrom) and n.module:
            out.update(n.module.split("."))
        elif isinstance(n, ast.keyword) and n.arg:
            out.add(n.arg)
        elif isinstance(n, (ast.Global, ast.Nonlocal)):
            out.update(n.names)
        elif isinstance(n, ast.ExceptHandler) and n.name:
            out.add(n.name)
        elif isinstance(n, (ast.MatchAs, ast.MatchStar)) and n.name:
            out.add(n.name)
        elif isinstance(n, ast.MatchMapping) and n.rest:
            out.add(n.rest)
        elif isinstance(n, ast.MatchClass):
            out.update(n.kwd_attrs)
    return out


def _has_return(node: ast.AST) -> bool:
    return any(isinstance(n, ast.Return) for n in ast.walk(node))


def _assigned_name(node: ast.Assign | ast.AnnAssign) -> str | None:
    target = node.targets[0] if isinstance(node, ast.Assign) else node.target
    return target.id if isinstance(target, ast.Name) else None


def extract_target_code_or_empty(code: str, entrypoint: str | None = None) -> str:
    code = code_extract(code)
    try:
        tree = ast.parse(code)
    except (SyntaxError, MemoryError, ValueError, RecursionError):
        return ""
    imports: list[ast.stmt] = []
    definitions: list[tuple[str | None, ast.stmt]] = []
    seen: set[str | None] = set()
    for child in tree.body:
        if isinstance(child, ast.Import) or (isinstance(child, ast.ImportFrom) and child.module != "__future__"):
            imports.append(child)
        elif isinstance(child, ast.ClassDef) and not child.decorator_list:
            if child.name not in seen:
                definitions.append((child.name, child))
                seen.add(child.name)
        elif isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)) and not child.decorator_list:
            if child.name not in seen and _has_return(child):
                definitions.append((child.name, child))
                seen.add(child.name)
        elif isinstance(child, (ast.Assign, ast.AnnAssign)):
            name = _assigned_name(child)
            if name not in seen:
                definitions.append((name, child))
                seen.add(name)
    reachable: set[str | None] = set()
    if entrypoint:
        deps = {name: _identifiers(node) for name, node in definitions}
        reachable, queue = {entrypoint}, [entrypoint]
        while queue:
            for nb in deps.get(queue.pop(0), ()):
                if nb not in reachable:
                    reachable.add(nb)
                    queue.append(nb)
    parts = [ast.get_source_segment(code, node) or "" for node in imports]
    parts += [ast.get_source_segment(code, node) or "" for name, node in definitions
              if not entrypoint or name in reachable]
    return "\n".join(parts)


def sanitize(code: str, entrypoint: str | None = None) -> str:
    sanitized = extract_target_code_or_empty(code, entrypoint).strip()
    if not sanitized:
        return code_extract(code)
    return sanitized
