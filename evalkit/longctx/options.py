"""The command-line seam of the long-context tasks: their options, and giving them the model's tokenizer.

The CLI adds the options with :func:`add_arguments`, applies them with :func:`configure` to each task it loads
(before ``task.problems()``), and, once the backend is loaded, gives the tasks the model's tokenizer with
:func:`give_tokenizer` (before the manifest and the requests are built: lengths count the model's tokens).
"""

from __future__ import annotations

import argparse
from typing import Any

from evalkit.errors import UserError

KEY_OPTIONS = {"context_lengths", "key_positions", "examples_per_cell", "prompt_seed", "filler"}
LCC_OPTIONS = {"max_prompt_tokens", "balanced_n", "balance_seed"}


def add_arguments(p: argparse.ArgumentParser | Any) -> None:
    """Options of ``key-retrieval`` and ``lcc-*`` (ignored by other tasks)."""
    g = p.add_argument_group("long-context tasks (key-retrieval, lcc-python, lcc-java, lcc-csharp)")
    g.add_argument("--context-lengths", metavar="LIST",
                   help="key-retrieval prompt lengths in the model's tokens, e.g. 4k,8k,16k,100k (k = 1000; default "
                        "the paper's 8k,16k,24k)")
    g.add_argument("--key-positions", metavar="LIST",
                   help="relative positions of the key function in [0, 1], e.g. 0,0.2,0.4 (the default) or "
                        "0,0.1,...,1 (Fig. 4b)")
    g.add_argument("--examples-per-cell", type=int, metavar="N",
                   help="key-retrieval examples per (length, position) (default 64, the paper's)")
    g.add_argument("--prompt-seed", type=int, metavar="N",
                   help="seed of the key-retrieval prompts (values and filler order; default 0)")
    g.add_argument("--filler", choices=["auto", "code_contests", "humaneval"],
                   help="key-retrieval filler: CodeContests from the hub (the paper's), HumanEval offline, or auto "
                        "(the hub's when reachable)")
    g.add_argument("--max-prompt-tokens", type=int, metavar="N",
                   help="LCC: keep only the last N tokens of the file (4000: the paper's protocol for models "
                        "without long-context fine-tuning; default: the whole file)")
    g.add_argument("--lcc-balanced-n", dest="balanced_n", type=int, metavar="N",
                   help="LCC-balanced: examples to draw (default the paper's 548 / 412 / 512)")
    g.add_argument("--lcc-balance-seed", dest="balance_seed", type=int, metavar="N",
                   help="LCC-balanced: seed of the resampling (default 0)")


def given(args: argparse.Namespace, names: set[str]) -> dict[str, Any]:
    return {k: getattr(args, k) for k in names if getattr(args, k, None) is not None}


def configure(task: Any, args: argparse.Namespace) -> None:
    """Apply the options that concern ``task`` (a task of another kind is left alone)."""
    kind = getattr(task, "name", "")
    if kind == "key-retrieval":
        opts = given(args, KEY_OPTIONS)
    elif kind.startswith("lcc-"):
        opts = given(args, LCC_OPTIONS)
    else:
        return
    if opts:
        task.configure(**opts)


def used_without_task(args: argparse.Namespace, task_names: list[str]) -> str | None:
    """An error line when an option of these tasks is given without any of them (as --fim without infilling)."""
    key = given(args, KEY_OPTIONS)
    lcc = given(args, LCC_OPTIONS)
    if key and "key-retrieval" not in task_names:
        return f"--{next(iter(key)).replace('_', '-')} needs the task key-retrieval"
    if lcc and not any(n.startswith("lcc-") for n in task_names):
        return f"--{next(iter(lcc)).replace('_', '-')} needs an lcc-* task"
    return None


def tokenizer_of(backend: Any) -> Any | None:
    """The model's tokenizer: the HF backend's; a served model's (``--tokenizer``, else the model id); None for
    the reference backend (lengths are then evalkit's code tokens, recorded as such)."""
    tok = getattr(backend, "tok", None)
    if tok is not None:
        return tok
    get = getattr(backend, "_tokenizer", None)
    if callable(get):
        try:
            return get()
        except UserError as e:
            raise UserError(f"long-context tasks count lengths in the model's tokens: {e}") from None
    return None


def give_tokenizer(tasks: list[Any], backend: Any) -> None:
    """Give every task that counts tokens (``needs_tokenizer``) the model's tokenizer."""
    need = [t for t in tasks if getattr(t, "needs_tokenizer", False)]
    if not need:
        return
    tok = tokenizer_of(backend)
    name = getattr(backend, "model_id", None) or getattr(backend, "model", None)
    for t in need:
        t.use_tokenizer(tok, str(name) if tok is not None and name else None)


def recorded(manifest: dict) -> dict[str, Any]:
    """The long-context options a run was made with, from its manifest (``tasks.<name>`` as ``info()`` recorded
    them), as the ``dest`` values ``configure`` takes: what ``run --resume`` and ``evaluate`` restore. The filler
    is the one the run used (``auto`` resolved), so that a resume does not switch it when the hub comes or goes."""
    tasks = manifest.get("tasks") or {}
    out: dict[str, Any] = {}
    kr = tasks.get("key-retrieval")
    if isinstance(kr, dict):
        for dest in ("context_lengths", "key_positions", "examples_per_cell", "prompt_seed"):
            if kr.get(dest) is not None:
                out[dest] = kr[dest]
        filler = kr.get("filler")
        if isinstance(filler, dict) and filler.get("source"):
            out["filler"] = "humaneval" if filler.get("deviation") else "code_contests"
    lcc = [t for name, t in tasks.items() if name.startswith("lcc-") and isinstance(t, dict)]
    if lcc:
        from evalkit.longctx.balance import PAPER_SIZES

        # the CLI gives every lcc-* task of a run the same values; the sizes default to each language's own
        out["max_prompt_tokens"] = lcc[0].get("max_prompt_tokens") or 0
        rules = [(t.get("lcc_balanced") or {}, t.get("language")) for t in lcc]
        if rules[0][0].get("seed") is not None:
            out["balance_seed"] = rules[0][0]["seed"]
        sizes = {r.get("n") for r, _ in rules}
        if not all(r.get("n") == PAPER_SIZES.get(lang or "") for r, lang in rules) and len(sizes) == 1:
            out["balanced_n"] = sizes.pop()
    return out


def _norm(dest: str, value: Any) -> Any:
    from evalkit.longctx.tokens import parse_lengths, parse_positions

    if dest == "context_lengths":
        return list(parse_lengths(value) if isinstance(value, str) else map(int, value))
    if dest == "key_positions":
        return list(parse_positions(value) if isinstance(value, str) else map(float, value))
    if dest == "max_prompt_tokens":
        return value or 0
    return value


def changed_on_resume(args: argparse.Namespace, typed: set[str], manifest: dict) -> str | None:
    """``run --resume`` with a long-context option that differs from the run's: one line naming it (the run's
    value and the one asked), else None. ``--filler auto`` agrees with whichever filler it resolved to."""
    was = recorded(manifest)
    out = []
    for dest in sorted(typed & (KEY_OPTIONS | LCC_OPTIONS)):
        now = getattr(args, dest, None)
        if now is None or dest not in was or (dest == "filler" and now == "auto"):
            continue
        if _norm(dest, now) != _norm(dest, was[dest]):
            flag = {"balanced_n": "lcc-balanced-n", "balance_seed": "lcc-balance-seed"}.get(dest, dest)
            out.append(f"--{flag.replace('_', '-')} {now} (the run: {_show(was[dest])})")
    return "; ".join(out) or None


def _show(value: Any) -> str:
    return ",".join(f"{x:g}" if isinstance(x, float) else str(x) for x in value) if isinstance(value, list) \
        else str(value)
