"""The ``evalkit`` argument parser: every verb, its options and its help (examples: ``evalkit.clidoc``)."""

from __future__ import annotations

import argparse
from typing import Any

from evalkit import __version__
from evalkit.longctx import options as long_options
from evalkit.suites import FLAVOURS, SUITES

PRESETS: dict[str, dict[str, Any]] = {
    # Code Llama paper, Table 2: greedy pass@1, and pass@1/10/100 from 200 samples at T=0.8, top-p 0.95
    "paper-pass1": {"n_samples": 1, "temperature": 0.0, "top_p": 1.0},
    "paper-pass100": {"n_samples": 200, "temperature": 0.8, "top_p": 0.95},
    # Tables 3 and 15 (APPS): pass@5/10/100 from 200 samples at T=0.6, top-p 0.95
    "apps-paper": {"n_samples": 200, "temperature": 0.6, "top_p": 0.95},
}


class _Parser(argparse.ArgumentParser):
    """Usage errors in one line on stderr, exit code 2, like every other bad input."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"evalkit: error: {message} (see: {self.prog} --help)\n")


def _add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data-dir", help="folder of local benchmark files: mbpp/mbpp.jsonl, mbpp/sanitized-mbpp.json, "
                   "humaneval-infilling/HumanEval-*.jsonl.gz (default: $EVALKIT_DATA_DIR, else the hub)")
    p.add_argument("--tasks-dir", help="folder of extra task modules, each with a TASKS list "
                   "(default: $EVALKIT_TASKS_DIR)")


def _add_sandbox(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("sandbox")
    g.add_argument("--workers", type=int, help="parallel sandbox workers (default: all cores)")
    g.add_argument("--timeout", type=float, help="CPU seconds per sample (default: the task's own, 3 s for HumanEval)")
    g.add_argument("--memory-mb", type=int, default=4096,
                   help="address-space limit per sample in MiB (default 4096; 0: no limit)")
    g.add_argument("--isolation", choices=["auto", "none"], default="auto",
                   help="auto: every layer the machine allows (default); none: rlimits and process groups only")
    g.add_argument("--sandbox-path", action="append", metavar="DIR",
                   help="a file or folder samples may read besides the minimal view (read-only; repeatable)")


def _add_serve(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("served models (--backend openai: vLLM, SGLang, TGI, transformers serve ...)")
    g.add_argument("--backend", choices=["hf", "openai"], default="hf",
                   help="hf: load --model here (default); openai: an OpenAI-compatible server generates")
    g.add_argument("--base-url", help="server URL(s), comma-separated (data parallel), e.g. http://host:8000/v1")
    g.add_argument("--concurrency", type=int, default=64, help="requests in flight over all servers (default 64)")
    g.add_argument("--request-timeout", type=float, default=600.0, help="seconds per request (default 600)")
    g.add_argument("--max-retries", type=int, default=6, help="retries of a request on 429/5xx/timeouts (default 6)")
    g.add_argument("--api-key-env", help="name of the environment variable that holds the API key")
    g.add_argument("--tokenizer", help="the model's tokenizer for infilling prompts (default: --model)")


def _doc(verb: str) -> dict[str, Any]:
    """The examples epilog of a verb (and the paper: references for the verbs that take them)."""
    from evalkit.clidoc import epilog

    return {"epilog": epilog(verb), "formatter_class": argparse.RawDescriptionHelpFormatter}


def parser() -> argparse.ArgumentParser:
    ap = _Parser(prog="evalkit", description="Evaluate code models on HumanEval, MBPP and "
                                 "HumanEval-infilling by running their code in a sandbox.")
    ap.add_argument("--version", action="version", version=f"evalkit {__version__}")
    sub = ap.add_subparsers(dest="verb", metavar="VERB")

    p = sub.add_parser("tasks", help="list tasks with problem counts", **_doc("tasks"))
    _add_common(p)

    p = sub.add_parser("run", help="generate completions with a model and score them", **_doc("run"))
    p.add_argument("--model", default="reference",
                   help="hub id, local checkpoint dir, or 'reference' (default): the oracle that answers each "
                   "problem's own solution (pass@1 = 1.0), a check of the data and the sandbox")
    p.add_argument("--tasks", default="humaneval", help="comma-separated task names (default: humaneval)")
    p.add_argument("--limit", type=int, help="only the first N problems of each task")
    p.add_argument("--output-dir", help="run directory (default: a new folder under results/runs/)")
    p.add_argument("--resume", action="store_true", help="continue the run in --output-dir; alone (no other "
                   "flags) with the run's own settings from its manifest.json")
    p.add_argument("--generate-only", action="store_true", help="stop after generation; score later with 'evaluate'")
    s = p.add_argument_group("suites (a whole paper in one command)")
    s.add_argument("--suite", choices=sorted(SUITES), help="every table of the paper that evalkit has a task for, "
                   "each with the paper's decoding and sample count (200 where pass@100 is reported) and FIM "
                   "layouts, one run per table under --output-dir; the generated tokens are estimated first. "
                   "Not with --tasks or the generation options (the suite sets them)")
    s.add_argument("--suite-tables", metavar="LIST", help="only these tables of the suite, e.g. 2,6,17 (default: all)")
    s.add_argument("--flavour", choices=list(FLAVOURS), help="which of the paper's model rows the model is: base, "
                   "python or instruct (default: from the model's name); the suite runs that flavour's tables")
    s.add_argument("--dry-run", action="store_true", help="with --suite: print the plan and its token estimate, "
                   "load nothing, run nothing")
    g = p.add_argument_group("generation")
    g.add_argument("--preset", choices=sorted(PRESETS), help="paper protocol (Code Llama Table 2): paper-pass1 = "
                   "greedy, 1 sample; paper-pass100 = 200 samples at T=0.8, top-p 0.95; apps-paper (Tables 3, 15) "
                   "= 200 samples at T=0.6, top-p 0.95 (flags override it)")
    g.add_argument("--n-samples", type=int, help="samples per problem (default 1)")
    g.add_argument("--temperature", type=float, help="0 = greedy (default)")
    g.add_argument("--top-p", type=float, help="nucleus sampling (default 1.0)")
    g.add_argument("--max-new-tokens", type=int, help="default: the task's (512 for HumanEval)")
    g.add_argument("--seed", type=int, default=0, help="base seed; each sample's own seed derives from it and the "
                   "task, problem and sample index, so completions do not depend on batch size (default 0)")
    g.add_argument("--stop", action="append", help="replace the task's stop sequences (repeatable; \\n escapes)")
    g.add_argument("--chat", action="store_true", help="apply the tokenizer's chat template (instruct models)")
    g.add_argument("--fim", choices=["psm", "spm"], help="infilling layout (default psm; infilling tasks only)")
    g.add_argument("--fim-tokens", help="PREFIX,SUFFIX,MIDDLE[,END] tokens for a model evalkit does not know")
    g.add_argument("--infill-stop", choices=["newline", "eot"],
                   help="single-line infilling stops at the first newline (default, InCoder convention) or only "
                        "at the end-of-infill token (eot, Meta's reference code)")
    m = p.add_argument_group("model")
    m.add_argument("--revision", help="hub revision (branch, tag or commit)")
    m.add_argument("--dtype", choices=["auto", "bf16", "fp16", "fp32"], default="auto",
                   help="weights' dtype (default auto: fp32 on CPU, the checkpoint's own dtype on GPU)")
    m.add_argument("--device", help="cpu, cuda, cuda:1 ... (default: cuda if available)")
    m.add_argument("--device-map", help="passed to from_pretrained (e.g. auto) for multi-GPU models")
    m.add_argument("--batch-size", default="auto", help="sequences per batch, or auto (default)")
    m.add_argument("--trust-remote-code", action="store_true", help="run the checkpoint's own code (off by default)")
    m.add_argument("--engine", choices=["auto", "fast", "eager"], default="auto",
                   help="decode engine: fast (static KV slots, CUDA graphs) where the model fits, else eager (default auto)")
    m.add_argument("--compile-step", choices=["auto", "on", "off"], default="auto",
                   help="fast engine: torch.compile the decode step inside its CUDA graphs (auto: on CUDA only)")
    _add_serve(p)
    _add_sandbox(p)
    _add_common(p)

    long_options.add_arguments(p)

    p = sub.add_parser("evaluate", help="score completions from a file, or a run made with --generate-only",
                       **_doc("evaluate"))
    p.add_argument("file", help="JSONL (task_id + completion | solution), bigcode generations.json, or a run dir")
    p.add_argument("--task", help="task the file answers, e.g. humaneval or mbpp (not needed for a run dir)")
    p.add_argument("--output-dir", help="where results go (default: a new folder under results/runs/; the run dir)")
    p.add_argument("--resume", action="store_true", help="continue an interrupted evaluation in --output-dir")
    p.add_argument("--evalplus-json", action="store_true",
                   help="humaneval-plus / mbpp-plus: also write evalplus's eval_results.json in the output dir")
    _add_sandbox(p)
    _add_common(p)

    p = sub.add_parser("prompt", help="print exactly what the model sees for one problem", **_doc("prompt"))
    p.add_argument("--task", required=True, help="task name (see: evalkit tasks)")
    p.add_argument("--model", default="reference", help="hub id or local checkpoint dir whose tokenizer lays the "
                   "prompt out (default reference: the prompt text alone; no weights are loaded either way)")
    p.add_argument("--task-id", help="problem to show, e.g. HumanEval/0 or 11 (default: the first problem)")
    p.add_argument("--chat", action="store_true", help="apply the tokenizer's chat template, as run --chat does")
    p.add_argument("--ids", action="store_true", help="also print token ids with their pieces")
    p.add_argument("--fim", choices=["psm", "spm"], help="infilling layout (default psm; infilling tasks only)")
    p.add_argument("--fim-tokens", help="PREFIX,SUFFIX,MIDDLE[,END] tokens for a model evalkit does not know")
    p.add_argument("--infill-stop", choices=["newline", "eot"],
                   help="single-line infilling: stop at the first newline (default) or only at end-of-infill (eot)")
    p.add_argument("--revision", help="hub revision (branch, tag or commit)")
    p.add_argument("--trust-remote-code", action="store_true", help="run the checkpoint's own tokenizer code")
    _add_common(p)

    long_options.add_arguments(p)

    p = sub.add_parser("compare", help="compare runs (and paper tables) with confidence intervals and p-values",
                       **_doc("compare"))
    p.add_argument("runs", nargs="+", help="run dirs, results.json files, or paper:<name> references (listed "
                   "below); the first is the one the others are compared with")
    p.add_argument("--format", choices=["table", "md", "csv", "json"], default="table",
                   help="table (terminal, default), md (Markdown), csv, json")
    p.add_argument("--per-problem", action="store_true", help="list problems that flipped between the first two runs")

    p = sub.add_parser("check", help="CI gate: exit 1 if a task dropped significantly against a baseline",
                       **_doc("check"))
    p.add_argument("run", help="the run to judge: a run dir or results.json")
    p.add_argument("--baseline", required=True, help="what it must not fall below: a run dir, results.json or "
                   "paper:<name> (listed below)")
    p.add_argument("--max-drop", type=float, default=0.02, help="allowed drop in pass@1 (fraction, default 0.02)")
    p.add_argument("--alpha", type=float, default=0.05, help="significance level (default 0.05)")
    p.add_argument("--format", choices=["table", "md"], default="table", help="table (default) or md (Markdown)")
    p.add_argument("--allow-mismatch", action="store_true",
                   help="gate even when the protocols or datasets differ (default: refuse, exit 2)")

    p = sub.add_parser("metric-path", help="print the path of evalkit's Hugging Face `evaluate` metric "
                       "(evaluate.load(PATH): code_eval's interface, scored in evalkit's sandbox, offline)",
                       **_doc("metric-path"))

    p = sub.add_parser("report", help="a static HTML report: comparison table, pass@k curves, heat map",
                       **_doc("report"))
    p.add_argument("runs", nargs="+", help="run dirs, results.json files, or paper:<name> references (listed below)")
    p.add_argument("-o", "--output", default="report.html",
                   help="the HTML file to write (default: report.html in the current directory)")
    p.add_argument("--paper", action="store_true",
                   help="the paper's tables (2, 3, 4/11, 6, 7/16, 8, 14, 15, 17/18) with each run beside its model's "
                        "row, differences with CIs, and marks for missing cells or another protocol")
    p.add_argument("--format", choices=["html", "md"], default=None,
                   help="with --paper: html (default) or md (Markdown, for a model card; also chosen by -o X.md)")
    return ap
