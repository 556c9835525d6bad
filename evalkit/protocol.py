"""What protocol produced a number, and where two numbers' protocols differ.

Every task of a results.json records its protocol (``protocol``: prompt format and hash, dataset hash, the
problems scored, greedy or sampled decoding, max_new_tokens, chat, FIM layout and stop rule, shots); a reference
table (``results/paper``) records the paper's, per metric where it differs (greedy pass@1, sampled pass@10/100).
``compare`` marks every cell whose protocol differs from the first column's and says what differs; ``check``
refuses to gate across a difference unless told to.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Sequence
from typing import Any

from evalkit.errors import UserError

UNKNOWN = None
CHAT_MODES = {"continue_final_message": "chat turn continued from the task's prefix",
              "new_turn": "chat as a new turn (the task's prefix not sent)"}


def shots_of(value: Any) -> Any:
    """The number of shots; an older MBPP results.json recorded the shot problems themselves (a list)."""
    return len(value) if isinstance(value, list) else value


def cpu_limit_s(timeout: float) -> int:
    """The CPU seconds the sandbox really enforces for a timeout: RLIMIT_CPU counts whole seconds, at least 1."""
    return max(1, math.ceil(timeout))


def check_run_options(tasks: Sequence[Any], *, chat: bool, fim: str | None, infill_stop: str | None) -> None:
    """One clear error for options that would make a task's name mean another protocol, or that do nothing."""
    names = ", ".join(t.name for t in tasks)
    if fim is not None and not any(t.infilling for t in tasks):
        raise UserError(f"--fim applies to infilling tasks (humaneval-infill-*) only, and {names} has none")
    if infill_stop is not None and not any(getattr(t, "single_line", False) for t in tasks):
        raise UserError(f"--infill-stop applies to humaneval-infill-single only, not to {names}")
    if chat:
        for t in tasks:
            instead = getattr(t, "chat_variant", None)
            if instead:
                raise UserError(f"{t.name} is a base-model protocol ({t.prompt_format}); --chat would run another "
                                f"prompt under its name: use --tasks {instead} for instruct models")


def prompts_sha256(prompts: Sequence[Any]) -> str:
    """A hash of every prompt a task gives the model (before the model's own template or FIM layout)."""
    h = hashlib.sha256()
    for p in prompts:
        part = p if isinstance(p, str) else list(p) if isinstance(p, tuple) else vars(p)
        h.update(json.dumps(part, sort_keys=True, ensure_ascii=False).encode() + b"\n")
    return h.hexdigest()


def task_fields(task: Any, cfg: Any, problems: Sequence[Any]) -> dict[str, Any]:
    """What a run records per task about how its samples were made (results.json ``tasks.<name>``)."""
    chat = bool(cfg.chat) and not task.infilling
    if chat:
        prompts: list[Any] = [task.chat_prompt(p) for p in problems]
        fmt = f"chat template; {getattr(task, 'chat_prompt_format', 'the task chat prompt')}"
    else:
        prompts = [task.prompt(p) for p in problems]
        fmt = task.prompt_format
    out: dict[str, Any] = {"prompt_format": fmt, "prompt_sha256": prompts_sha256(prompts), "chat": chat,
                           "max_new_tokens": cfg.max_new_tokens or task.default_max_new_tokens}
    if task.infilling:
        out["fim"] = cfg.fim or "psm"
    return out


def execution_fields(task: Any, cfg: Any) -> dict[str, Any]:
    """The time limit as the sandbox enforces it (CPU seconds), and as asked."""
    asked = cfg.timeout if cfg.timeout is not None else task.timeout
    return {"timeout_s": cpu_limit_s(asked), "timeout_requested_s": asked}


def recorded(doc: dict[str, Any], task: str) -> dict[str, Any]:
    """The protocol block of a finished task, from the fields the run recorded."""
    t = dict((doc.get("tasks") or {}).get(task) or {})
    t.pop("protocol", None)
    return of_result({**doc, "tasks": {task: t}}, task)


def decoding_of(gen: dict[str, Any]) -> dict[str, Any] | None:
    if not gen or "temperature" not in gen:
        return UNKNOWN
    if gen["temperature"] <= 0:
        return {"greedy": True, "n_samples": gen.get("n_samples")}
    return {"greedy": False, "temperature": gen["temperature"], "top_p": gen.get("top_p", 1.0),
            "n_samples": gen.get("n_samples")}


def of_result(doc: dict[str, Any], task: str) -> dict[str, Any]:
    """The protocol of one task of a results.json (recorded, or rebuilt from the fields of an older file)."""
    t = (doc.get("tasks") or {}).get(task) or {}
    if isinstance(t.get("protocol"), dict):
        rec = dict(t["protocol"])
        if rec.get("chat") and "chat_mode" not in rec:  # recorded before chat_mode was part of the protocol
            rec["chat_mode"] = chat_mode(doc)
        if "shots" in rec:
            rec["shots"] = shots_of(rec["shots"])
        return rec
    cfg = doc.get("config") or {}
    gen = cfg.get("generation") or {}
    p: dict[str, Any] = {
        "prompt_format": t.get("prompt_format"),
        "prompt_sha256": t.get("prompt_sha256"),
        "dataset_sha256": t.get("dataset_sha256"),
        "n_problems": t.get("n_problems"),
        "limit": cfg.get("limit"),
        "decoding": decoding_of(gen),
        "max_new_tokens": t.get("max_new_tokens", gen.get("max_new_tokens")),
        "chat": t.get("chat", gen.get("chat")),
        "shots": shots_of(t.get("shots")),
        "stop_sequences": t.get("stop_sequences"),
    }
    if p["chat"]:
        p["chat_mode"] = chat_mode(doc)
    if "single_line" in t or "fim" in t:  # an infilling task
        p["fim"] = t.get("fim", gen.get("fim"))
        p["infill_stop"] = t.get("infill_stop", "newline" if t.get("single_line") else "eot")
    if (doc.get("model") or {}).get("backend") == "file":  # completions made elsewhere: how is not known
        p |= dict.fromkeys(("prompt_format", "prompt_sha256", "decoding", "max_new_tokens", "chat", "chat_mode",
                            "fim", "infill_stop"), UNKNOWN)
    return p


def chat_mode(doc: dict[str, Any]) -> str | None:
    """How a chat prompt reached the model: ``continue_final_message`` (the assistant's turn prefilled with the
    task's prefix and continued: the HF backend, vLLM) or ``new_turn`` (a server that cannot continue a turn got
    the user message alone); None when not known (completions made elsewhere)."""
    model = doc.get("model") or {}
    if model.get("chat_mode"):
        return str(model["chat_mode"])
    return "continue_final_message" if model.get("backend") in ("hf", "reference") else UNKNOWN


def decoding_for(protocol: dict[str, Any], metric: str) -> dict[str, Any] | None:
    """A protocol's decoding for one metric (a paper's may differ per metric: greedy pass@1, sampled pass@10)."""
    d = protocol.get("decoding")
    if isinstance(d, dict) and any(k.startswith("pass@") for k in d):
        return d.get(metric)
    return d


def describe_decoding(d: dict[str, Any]) -> str:
    if d.get("greedy"):
        return "greedy"
    s = f"sampled (T={d.get('temperature')}, top-p {d.get('top_p')}"
    return s + (f", n={d['n_samples']})" if d.get("n_samples") else ")")


def _short(h: str) -> str:
    return h[:12]


def differences(base: dict[str, Any], other: dict[str, Any], metric: str) -> list[str]:
    """What in ``other``'s protocol differs from ``base``'s for one metric ('other vs base'); unknowns are
    not compared. The number of samples of a sampled pass@k is not a difference: the estimator is unbiased."""
    out = []
    db, do = decoding_for(base, metric), decoding_for(other, metric)
    if db and do:
        if bool(db.get("greedy")) != bool(do.get("greedy")) or (
                not db.get("greedy") and (db.get("temperature"), db.get("top_p")) != (do.get("temperature"),
                                                                                       do.get("top_p"))):
            out.append(f"{metric} {describe_decoding(do)} vs {describe_decoding(db)}")

    def known(key: str) -> tuple[Any, Any] | None:
        a, b = other.get(key), base.get(key)
        if key == "shots":
            a, b = shots_of(a), shots_of(b)
        return (a, b) if a is not None and b is not None and a != b else None

    if d := known("n_problems"):
        out.append(f"{d[0]} problems vs {d[1]}")
    if d := known("dataset_sha256"):
        out.append(f"dataset differs (sha256 {_short(d[0])} vs {_short(d[1])})")
    if d := known("shots"):
        out.append(f"{d[0]}-shot vs {d[1]}-shot")
    if d := known("prompt_format"):
        out.append(f"prompt format {d[0]!r} vs {d[1]!r}")
    elif d := known("prompt_sha256"):
        out.append(f"prompts differ (sha256 {_short(d[0])} vs {_short(d[1])})")
    if d := known("chat"):
        out.append(" vs ".join("chat template" if x else "no chat template" for x in d))
    elif d := known("chat_mode"):
        out.append(" vs ".join(CHAT_MODES.get(x, x) for x in d))
    if d := known("max_new_tokens"):
        out.append(f"max_new_tokens {d[0]} vs {d[1]}")
    if d := known("fim"):
        out.append(f"FIM {d[0]} vs {d[1]}")
    if d := known("infill_stop"):
        out.append(f"infilling stops at {d[0]} vs {d[1]}")
    if known("stop_sequences"):
        out.append("stop sequences differ")
    return out
