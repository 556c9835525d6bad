"""MultiPL-E (Cassano et al. 2023): HumanEval translated to other languages, as the Code Llama paper scores it
(Tables 4 and 11: zero-shot pass@1 in C++, Java, PHP, TypeScript, C#, Bash, and Python).

Protocol as MultiPL-E's: the prompt exactly as in the data (the "reworded" prompts of MultiPL-E 2.1.0), the
completion cut before the first of the record's ``stop_tokens``, the program ``prompt + completion + "\\n" +
tests`` compiled and run in the sandbox (``evalkit.langs.<lang>``), the verdict from exit status and output
(``evalkit.evaluators.exit_output``), MultiPL-E's statuses as outcomes. A problem's ``task_id`` is the record's
``name`` (``HumanEval_23_strlen``); input files may also say ``HumanEval/23`` or ``23``.

Tasks: ``multiple-cpp``, ``-java``, ``-php``, ``-ts``, ``-cs``, ``-sh``, ``-py`` (the group ``multiple`` is all
seven), and ``multiple-cs-patched``: C# with MultiPL-E issue #71's fix (``.Equals`` -> ``.SequenceEqual`` on
lists in 44 problems). ``multiple-cs`` is the upstream C# set, what published numbers used.

Data: ``--data-dir DIR`` or ``$EVALKIT_DATA_DIR`` holding ``humaneval-<lang>.jsonl`` (py:
``humaneval-py-reworded.json``; C# upstream: ``humaneval-cs-bu.jsonl``), directly or under ``multipl-e/``; else
the hub (``nuprl/MultiPL-E``, config ``humaneval-<lang>``, pinned revision below) through ``datasets``.
Licence: MultiPL-E's BSD-3-Clause with a machine-learning restriction (not to be used as training data).
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Collection, Sequence
from typing import Any, ClassVar

from evalkit import langs
from evalkit.datafiles import find_data_file, read_json_list, read_jsonl
from evalkit.errors import UserError
from evalkit.evaluators import Verdict
from evalkit.sandbox.spec import ExecSpec, Facts
from evalkit.task import Problem, Task, cut_at_stop, data_dir, extract_code, load_hub_rows, sha256_file

HUB_ID = "nuprl/MultiPL-E"
# the revision bigcode-evaluation-harness pins; the rows' sha256 is recorded with every run
HUB_REVISION = "28441b6024e71d4a1c1c0f6bf171c935cd5a43f2"
FIELDS = ("name", "prompt", "tests", "stop_tokens")
GROUPS = {"multiple": ("multiple-cpp", "multiple-java", "multiple-php", "multiple-ts", "multiple-cs",
                       "multiple-sh", "multiple-py")}

# Problems no completion can pass (the tests contradict themselves or the prompt), per task: listed in results
# (``known_broken``) and in the README, never "fixed" in the data.
_CS_LIST_EQUALS = (  # upstream C#: List<T>.Equals compares references (MultiPL-E issue #71)
    "HumanEval_1_separate_paren_groups", "HumanEval_5_intersperse", "HumanEval_6_parse_nested_parens",
    "HumanEval_7_filter_by_substring", "HumanEval_9_rolling_max", "HumanEval_14_all_prefixes",
    "HumanEval_17_parse_music", "HumanEval_21_rescale_to_unit", "HumanEval_22_filter_integers",
    "HumanEval_25_factorize", "HumanEval_26_remove_duplicates", "HumanEval_29_filter_by_prefix",
    "HumanEval_30_get_positive", "HumanEval_33_sort_third", "HumanEval_34_unique", "HumanEval_37_sort_even",
    "HumanEval_42_incr_list", "HumanEval_58_common", "HumanEval_62_derivative", "HumanEval_68_pluck",
    "HumanEval_70_strange_sort_list", "HumanEval_74_total_match", "HumanEval_81_numerical_letter_grade",
    "HumanEval_87_get_row", "HumanEval_88_sort_array", "HumanEval_96_count_up_to", "HumanEval_100_make_a_pile",
    "HumanEval_101_words_string", "HumanEval_104_unique_digits", "HumanEval_105_by_length", "HumanEval_106_f",
    "HumanEval_113_odd_count", "HumanEval_116_sort_array", "HumanEval_117_select_words",
    "HumanEval_120_maximum", "HumanEval_123_get_odd_collatz", "HumanEval_129_minPath", "HumanEval_130_tri",
    "HumanEval_145_order_by_points", "HumanEval_148_bf", "HumanEval_149_sorted_list_sum",
    "HumanEval_152_compare", "HumanEval_159_eat", "HumanEval_163_generate_integers")
KNOWN_BROKEN: dict[str, dict[str, str]] = {
    "php": {"HumanEval_23_strlen": "the prompt redefines PHP's builtin strlen(): 'Cannot redeclare strlen()'"},
    "java": {"HumanEval_136_largest_smallest_integers": "the tests expect both a Pair and an Optional<Pair>"},
    "cs-patched": {"HumanEval_136_largest_smallest_integers": "the tests expect contradictory types",
                   "HumanEval_111_histogram": "Dictionary.Equals compares references"},
    "cs": {"HumanEval_136_largest_smallest_integers": "the tests expect contradictory types",
           "HumanEval_111_histogram": "Dictionary.Equals compares references",
           **{n: "List.Equals compares references (MultiPL-E issue #71)" for n in _CS_LIST_EQUALS}},
}


def load_rows(explicit_dir: str | None, file: str, config: str | None) -> tuple[list[dict], str, str]:
    """Rows of a local data file, else of the hub's config (``config`` None: the hub has no such set)."""
    d = data_dir(explicit_dir)
    if d is not None:
        f = find_data_file(d, (f"multipl-e/{file}", file, f"multiple/{file}"), f"MultiPL-E {file}")
        rows = read_json_list(f, FIELDS) if file.endswith(".json") else read_jsonl(f, FIELDS)
        return rows, sha256_file(f), str(f)
    if config is None:
        raise UserError(f"{file} is not on the hub: give a folder holding it with --data-dir or EVALKIT_DATA_DIR")
    kwargs: dict[str, Any] = {}
    if "revision" in inspect.signature(load_hub_rows).parameters:  # pinned where evalkit.task supports it
        kwargs["revision"] = HUB_REVISION
    return load_hub_rows("MultiPL-E", HUB_ID, config, split="test", **kwargs)


class MultiPLE(Task):
    """One MultiPL-E language; subclasses set ``lang`` (and the data file)."""

    lang: ClassVar[str] = ""
    variant: ClassVar[str] = ""  # KNOWN_BROKEN key when it differs from lang
    data_file: ClassVar[str] = ""
    prompt_format = "MultiPL-E reworded prompt exactly as in the data; program = prompt + completion + tests"
    default_max_new_tokens = 512
    chat_stop_sequences = ("\n```",)

    @classmethod
    def language(cls) -> langs.Language:
        return langs.get(cls.lang)

    def load(self) -> tuple[list[Problem], str, str]:
        self.language().check(f"{self.name}")
        config = None if self.variant else f"humaneval-{self.lang}"
        rows, sha, source = load_rows(self.data_dir, self.data_file, config)
        problems = [Problem(task_id=r["name"], prompt=r["prompt"], reference="", test=r["tests"],
                            meta={"stop_tokens": tuple(r["stop_tokens"])}) for r in rows]
        return problems, sha, source

    # --- the sample's life -----------------------------------------------------------------------
    def postprocess(self, problem: Problem, generation: str) -> str:
        # the record's stop_tokens, unless the user gave others (Task.__init__ sets them on the instance)
        stops = self.stop_sequences if "stop_sequences" in vars(self) else \
            (problem.meta.get("stop_tokens") or self.stop_sequences)
        return cut_at_stop(generation, stops)

    def chat_prompt(self, problem: Problem) -> tuple[str, str]:
        title, fence = self.language().title, self.lang
        return (f"Complete the following {title} function. Answer with the whole function in a ```{fence} code "
                f"block.\n\n```{fence}\n{problem.prompt}```\n", f"```{fence}\n{problem.prompt}")

    def postprocess_chat(self, problem: Problem, answer: str) -> dict[str, str]:
        code = extract_code(answer)
        if code.startswith(problem.prompt):
            return {"completion": cut_at_stop(code[len(problem.prompt):], self.stop_sequences)}
        return {"solution": code}

    def canonical_task_id(self, raw: Any) -> str:
        s = str(raw).strip()
        m = re.fullmatch(r"(?:HumanEval[/_])?(\d+)", s)
        if m:
            prefix = f"HumanEval_{int(m.group(1))}_"
            for p in self.problems():
                if p.task_id.startswith(prefix):
                    return p.task_id
        return s

    # --- judging ---------------------------------------------------------------------------------
    @staticmethod
    def code_of(problem: Problem, code: dict[str, str]) -> str:
        if "solution" in code:
            return code["solution"]
        return problem.prompt + code.get("completion", "")

    def program(self, problem: Problem, code: dict[str, str]) -> str:
        return self.code_of(problem, code) + "\n" + problem.test

    def execution(self, problem: Problem, code: dict[str, str], timeout: float | None = None) -> ExecSpec | None:
        return self.program_spec(self.program(problem, code), timeout)

    def program_spec(self, program: str, timeout: float | None = None) -> ExecSpec:
        """The steps that build and run a whole program of this language."""
        lang = self.language()
        cpu = self.cpu_limit(timeout)
        if self.lang == "py":
            return ExecSpec(steps=(lang.python_step(program, cpu),))  # type: ignore[attr-defined]
        return ExecSpec(steps=lang.steps(cpu), files=((lang.file, program),))

    def judge(self, problem: Problem, code: dict[str, str], facts: Facts | None) -> Verdict:
        from evalkit.evaluators import exit_output

        return exit_output.verdict(facts, self.language().rules)

    def sandbox_paths(self, task_ids: Collection[str] | None = None) -> tuple[str, ...]:
        return self.language().prepare() or self.language().sandbox_paths()

    # --- results ---------------------------------------------------------------------------------
    @classmethod
    def known_broken(cls) -> dict[str, str]:
        return KNOWN_BROKEN.get(cls.variant or cls.lang, {})

    def summary_extra(self, rows: Sequence[dict], ks: Sequence[int]) -> dict[str, Any]:
        """The language, and the known-broken problems: how many the task has, which of them this run scored."""
        broken = self.known_broken()
        seen = sorted({r["task_id"] for r in rows if r.get("task_id") in broken})
        return {"language": self.lang, "known_broken": {"count": len(broken), "in_run": len(seen),
                                                        "task_ids": seen, "why": {t: broken[t] for t in seen}}}

    def info(self) -> dict[str, Any]:
        lang = self.language()
        return super().info() | {"language": lang.key, "multiple_command": lang.multiple_command,
                                 "differences": lang.differences}


def _make(lang: str, file: str, *, variant: str = "", about: str = "") -> type[MultiPLE]:
    key = variant or lang
    language = langs.get(lang)
    stops = STOPS[lang]
    miss = language.missing()
    here = "" if not miss else " [needs: apt-get install " + " ".join(dict.fromkeys(p for _, p in miss)) + "]"
    attrs = {"name": f"multiple-{key}", "lang": lang, "variant": variant, "data_file": file,
             "stop_sequences": stops, "timeout": language.run_timeout,
             "description": f"MultiPL-E HumanEval in {language.title}{about}, zero-shot, compiled and run in the "
                            f"sandbox{here}"}
    return type(f"MultiPLE_{key.replace('-', '_')}", (MultiPLE,), attrs)


STOPS: dict[str, tuple[str, ...]] = {  # every record's stop_tokens (one value per language)
    "cpp": ("\n}",), "java": ("\n    }\n",), "php": ("\nfunction", "\n?>", "\n//", "\n#"),
    "ts": ("\nfunction ", "\n/*", "\n//", "\nclass"), "sh": ("\n}",), "cs": ("\n    }\n",),
    "py": ("\ndef", "\n#", "\nif", "\nclass"),
}


def available() -> dict[str, str]:
    """Task name -> "" if its toolchain is here, else the apt-get line that installs it (``evalkit tasks``)."""
    out = {}
    for t in TASKS:
        miss = t.language().missing()
        out[t.name] = "" if not miss else "apt-get install " + " ".join(dict.fromkeys(p for _, p in miss))
    return out


def expand(names: Sequence[str]) -> list[str]:
    """Task names with the group ``multiple`` replaced by its seven tasks."""
    out: list[str] = []
    for n in names:
        for m in GROUPS.get(n, (n,)):
            if m not in out:
                out.append(m)
    return out


TASKS = [
    _make("cpp", "humaneval-cpp.jsonl"),
    _make("java", "humaneval-java.jsonl"),
    _make("php", "humaneval-php.jsonl"),
    _make("ts", "humaneval-ts.jsonl"),
    _make("cs", "humaneval-cs-bu.jsonl", about=" (upstream tests)"),
    _make("cs", "humaneval-cs.jsonl", variant="cs-patched", about=" (tests patched: MultiPL-E issue #71)"),
    _make("sh", "humaneval-sh.jsonl"),
    _make("py", "humaneval-py-reworded.json"),
]
