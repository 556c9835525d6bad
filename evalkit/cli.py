"""``evalkit`` command line: parse (``cli_parser``), dispatch to the verb's module, and turn every way a run can
end into one line and an exit code: 0 done, 1 a failed gate (``check``), 2 bad input or a full disk, 130
interrupted (Ctrl-C), 143 terminated (SIGTERM). Heavy modules are imported inside each verb so ``evalkit --help``
is instant."""

from __future__ import annotations

import argparse
import os
import signal
import sys
from typing import Any

from evalkit.cli_parser import parser as _parser
from evalkit.errors import UserError

__all__ = ["COMMANDS", "Terminated", "main"]


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised in the main thread so that it unwinds like Ctrl-C: journals synced and closed, the
    sandbox's workers stopped, the lock released."""


def _on_sigterm(signum: int, frame: Any) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a second SIGTERM does not cut the cleanup short
    raise Terminated()


def _verb(module: str, name: str) -> Any:
    def run(args: argparse.Namespace) -> int:
        import importlib

        return getattr(importlib.import_module(module), name)(args)

    return run


COMMANDS = {
    "tasks": _verb("evalkit.cli_tasks", "cmd_tasks"),
    "run": _verb("evalkit.cli_run", "cmd_run"),
    "evaluate": _verb("evalkit.cli_run", "cmd_evaluate"),
    "prompt": _verb("evalkit.cli_tasks", "cmd_prompt"),
    "compare": _verb("evalkit.compare", "cmd_compare"),
    "check": _verb("evalkit.gate", "cmd_check"),
    "report": _verb("evalkit.report", "cmd_report"),
    "metric-path": _verb("evalkit.cli_tasks", "cmd_metric_path"),
}


def main(argv: list[str] | None = None) -> int:
    ap = _parser()
    args = ap.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)  # which options were typed (run --resume)
    if not sys.stderr.isatty():  # no hub/transformers/datasets bars ("Loading weights") in logs and pipes
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    if not args.verb:
        ap.print_help()
        return 2
    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        if args.verb in ("report", "compare"):  # a suite's directory (run --suite) stands for its runs
            from evalkit.cli_suite import expand_runs

            args.runs = expand_runs(args.runs)
        return COMMANDS[args.verb](args)
    except UserError as e:
        print(f"evalkit: error: {e}", file=sys.stderr)
        return 2
    except Terminated:
        print("evalkit: terminated (SIGTERM); what was finished is saved (continue with --resume)", file=sys.stderr)
        return 143
    except KeyboardInterrupt:
        print("evalkit: interrupted; what was finished is saved (continue with --resume)", file=sys.stderr)
        return 130
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    finally:
        signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":
    sys.exit(main())
