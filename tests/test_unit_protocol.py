"""What a run records about how its numbers were made, and where two protocols differ: one case per field of
``protocol.differences`` (a field dropped from the comparison must fail a test), the protocol rebuilt from a
results.json, the CPU limit as the sandbox enforces it, and the run options refused up front."""

from __future__ import annotations

import hashlib
import json

import pytest

from evalkit.errors import UserError
from evalkit.protocol import (
    check_run_options,
    cpu_limit_s,
    decoding_for,
    decoding_of,
    describe_decoding,
    differences,
    execution_fields,
    of_result,
    prompts_sha256,
    recorded,
    task_fields,
)
from evalkit.run.config import RunConfig
from evalkit.task import FimPrompt, Problem, Task
from evalkit.tasks.humaneval import HumanEval

GREEDY = {"greedy": True, "n_samples": 1}
SAMPLED = {"greedy": False, "temperature": 0.8, "top_p": 0.95, "n_samples": 200}
BASE = {"prompt_format": "HumanEval prompt", "prompt_sha256": "a" * 64, "dataset_sha256": "d" * 64,
        "n_problems": 164, "limit": None, "decoding": GREEDY, "max_new_tokens": 512, "chat": False, "shots": 0,
        "stop_sequences": ["\ndef", "\nclass"], "fim": "psm", "infill_stop": "eot"}

# (field changed, its new value, words the one difference must name)
CASES = [
    ("decoding", SAMPLED, ["sampled", "greedy"]),
    ("n_problems", 40, ["40", "164", "problems"]),
    ("dataset_sha256", "e" * 64, ["dataset", "eeeeeeeeeeee", "dddddddddddd"]),
    ("shots", 3, ["3-shot", "0-shot"]),
    ("prompt_format", "chat template; x", ["prompt format", "chat template; x", "HumanEval prompt"]),
    ("prompt_sha256", "b" * 64, ["prompts differ", "bbbbbbbbbbbb", "aaaaaaaaaaaa"]),
    ("chat", True, ["chat template vs no chat template"]),
    ("max_new_tokens", 1024, ["max_new_tokens", "1024", "512"]),
    ("fim", "spm", ["FIM", "spm", "psm"]),
    ("infill_stop", "newline", ["newline", "eot"]),
    ("stop_sequences", ["\ndef"], ["stop sequences"]),
]


@pytest.mark.parametrize("field,value,words", CASES, ids=[c[0] for c in CASES])
def test_each_protocol_field_is_a_difference(field, value, words):
    other = BASE | {field: value}
    diff = differences(BASE, other, "pass@1")
    assert len(diff) == 1, diff
    for w in words:
        assert w in diff[0], (w, diff)
    assert differences(BASE, dict(BASE), "pass@1") == []
    # unknown on either side: not compared
    assert differences(BASE, other | {field: None}, "pass@1") == []
    assert differences(BASE | {field: None}, other, "pass@1") == []


def test_differences_read_other_vs_base():
    diff = differences(BASE, BASE | {"max_new_tokens": 1024, "shots": 3}, "pass@1")
    assert diff == [d for d in diff if d] and len(diff) == 2
    assert diff[0].index("3") < diff[0].index("0") and diff[1].index("1024") < diff[1].index("512")


@pytest.mark.parametrize("change,differs", [
    ({"temperature": 0.2}, True),
    ({"top_p": 1.0}, True),
    ({"n_samples": 10}, False),  # the pass@k estimator is unbiased: more samples is not another protocol
    ({}, False),
])
def test_sampled_decoding_differs_by_temperature_and_top_p_not_by_sample_count(change, differs):
    a, b = BASE | {"decoding": SAMPLED}, BASE | {"decoding": SAMPLED | change}
    diff = differences(a, b, "pass@10")
    assert bool(diff) == differs, diff
    if differs:
        assert len(diff) == 1 and "pass@10" in diff[0] and "sampled" in diff[0]


def test_greedy_runs_with_other_sample_counts_do_not_differ():
    assert differences(BASE, BASE | {"decoding": {"greedy": True, "n_samples": 5}}, "pass@1") == []
    # top-p means nothing to greedy decoding
    a, b = BASE | {"decoding": {"greedy": True, "top_p": 0.9}}, BASE | {"decoding": {"greedy": True, "top_p": 1.0}}
    assert differences(a, b, "pass@1") == []


@pytest.mark.parametrize("d", [{"greedy": False, "temperature": 0.8, "top_p": 0.95},
                               {"greedy": False, "temperature": 0.8, "top_p": 0.95, "n_samples": 200}])
def test_sampled_decoding_is_described_with_its_parameters(d):
    s = describe_decoding(d)
    assert s.startswith("sampled") and "0.8" in s and "0.95" in s and s.count("(") == s.count(")") == 1
    assert ("200" in s) == ("n_samples" in d)
    assert describe_decoding({"greedy": True}) == "greedy"


def test_a_paper_protocol_has_a_decoding_per_metric():
    paper = BASE | {"decoding": {"pass@1": {"greedy": True}, "pass@10": {"greedy": False, "temperature": 0.8,
                                                                         "top_p": 0.95}}}
    assert decoding_for(paper, "pass@1") == {"greedy": True}
    assert decoding_for(paper, "pass@100") is None
    assert decoding_for(BASE, "pass@10") == GREEDY
    run = BASE | {"decoding": SAMPLED}
    assert differences(paper, run, "pass@10") == []
    assert len(differences(paper, run, "pass@1")) == 1
    assert differences(paper, run, "pass@100") == []  # the paper says nothing: not compared


def test_prompt_format_difference_is_said_once():
    diff = differences(BASE, BASE | {"prompt_format": "other", "prompt_sha256": "b" * 64}, "pass@1")
    assert len(diff) == 1 and "prompt format" in diff[0]


@pytest.mark.parametrize("asked,enforced", [(2.5, 3), (0.5, 1), (3, 3), (3.0, 3), (0.0, 1), (1.01, 2), (10, 10)])
def test_cpu_limit_is_the_ceiling_in_whole_seconds(asked, enforced):
    assert cpu_limit_s(asked) == enforced and isinstance(cpu_limit_s(asked), int)


def test_execution_fields_record_the_enforced_and_the_asked_limit():
    task = HumanEval()
    assert execution_fields(task, RunConfig(timeout=2.5)) == {"timeout_s": 3, "timeout_requested_s": 2.5}
    assert execution_fields(task, RunConfig()) == {"timeout_s": 3, "timeout_requested_s": task.timeout}
    assert execution_fields(task, RunConfig(timeout=0)) == {"timeout_s": 1, "timeout_requested_s": 0}


@pytest.mark.slow
def test_a_run_with_timeout_2_5_records_3_seconds(tmp_path):
    from conftest import evalkit

    f = tmp_path / "one.jsonl"
    p = HumanEval().problems()[0]
    f.write_text(json.dumps({"task_id": p.task_id, "completion": p.reference}) + "\n")
    r = evalkit("evaluate", "--task", "humaneval", str(f), "--timeout", "2.5", "--output-dir", str(tmp_path / "o"))
    assert r.returncode == 0, r.stderr
    t = json.loads((tmp_path / "o" / "results.json").read_text())["tasks"]["humaneval"]
    assert (t["timeout_s"], t["timeout_requested_s"]) == (3, 2.5)


def test_prompt_hash_is_stable_across_versions():
    # results.json files of earlier runs carry this hash: changing the formula makes every old run "differ"
    lines = '"def f():\\n"\n' + '["pré", "s"]\n' + '{"prefix": "a", "suffix": "b"}\n'  # JSON, UTF-8, sorted keys
    expected = hashlib.sha256(lines.encode()).hexdigest()
    assert prompts_sha256(["def f():\n", ("pré", "s"), FimPrompt("a", "b")]) == expected
    assert prompts_sha256(["a"]) != prompts_sha256(["b"]) and prompts_sha256(["a", "b"]) != prompts_sha256(["ab"])


class Small(Task):
    """A two-problem task: the protocol fields of a plain and of an infilling task."""

    name = "small"
    prompt_format = "small prompt"
    default_max_new_tokens = 77

    def load(self):
        ps = [Problem(f"S/{i}", f"def f{i}():\n", "    pass\n", "", f"f{i}") for i in range(2)]
        return ps, "0" * 64, "test"


class SmallInfill(Small):
    name = "small-infill"
    infilling = True

    def prompt(self, problem):
        return FimPrompt(problem.prompt, "\n")


def test_task_fields_of_a_plain_task():
    t = Small()
    f = task_fields(t, RunConfig(), t.problems())
    assert f == {"prompt_format": "small prompt", "prompt_sha256": prompts_sha256([p.prompt for p in t.problems()]),
                 "chat": False, "max_new_tokens": 77}
    assert task_fields(t, RunConfig(max_new_tokens=5), t.problems())["max_new_tokens"] == 5
    chat = task_fields(t, RunConfig(chat=True), t.problems())
    assert chat["chat"] is True and chat["prompt_format"].startswith("chat template")
    assert chat["prompt_sha256"] == prompts_sha256([t.chat_prompt(p) for p in t.problems()]) != f["prompt_sha256"]


def test_task_fields_of_an_infilling_task():
    t = SmallInfill()
    f = task_fields(t, RunConfig(chat=True), t.problems())
    assert f["chat"] is False and f["fim"] == "psm" and f["prompt_format"] == "small prompt"  # no chat for FIM
    assert task_fields(t, RunConfig(fim="spm"), t.problems())["fim"] == "spm"


def _doc(task_fields_: dict, gen: dict | None = None, backend: str = "hf") -> dict:
    return {"model": {"id": "m", "backend": backend}, "config": {"limit": 40, "generation": gen or {}},
            "tasks": {"t": task_fields_}}


def test_protocol_rebuilt_from_a_results_file():
    fields = {"prompt_format": "pf", "prompt_sha256": "h", "dataset_sha256": "d", "n_problems": 40, "shots": 3,
              "stop_sequences": ["\n"], "max_new_tokens": 300, "chat": False}
    p = of_result(_doc(fields, {"temperature": 0.0, "n_samples": 1, "max_new_tokens": 9, "chat": True}), "t")
    assert p == {"prompt_format": "pf", "prompt_sha256": "h", "dataset_sha256": "d", "n_problems": 40, "limit": 40,
                 "decoding": {"greedy": True, "n_samples": 1}, "max_new_tokens": 300, "chat": False, "shots": 3,
                 "stop_sequences": ["\n"]}
    # an older file: caps and chat only in the generation settings
    old = of_result(_doc({"n_problems": 40}, {"temperature": 0.8, "top_p": 0.9, "n_samples": 5,
                                              "max_new_tokens": 9, "chat": True}), "t")
    assert old["max_new_tokens"] == 9 and old["chat"] is True
    assert old["decoding"] == {"greedy": False, "temperature": 0.8, "top_p": 0.9, "n_samples": 5}
    assert "fim" not in old and "infill_stop" not in old


def test_recorded_protocol_wins_and_recorded_rebuilds_it():
    stale = {"n_problems": 40, "protocol": {"n_problems": 1}}
    assert of_result(_doc(stale), "t") == {"n_problems": 1}
    assert recorded(_doc(stale), "t")["n_problems"] == 40
    assert of_result({"tasks": {}}, "nothing")["n_problems"] is None


@pytest.mark.parametrize("fields,fim,stop", [
    ({"single_line": True}, "psm", "newline"),
    ({"single_line": False}, "psm", "eot"),
    ({"fim": "spm"}, "spm", "eot"),
    ({"fim": "spm", "single_line": True, "infill_stop": "eot"}, "spm", "eot"),
])
def test_infilling_protocol(fields, fim, stop):
    p = of_result(_doc(fields, {"temperature": 0, "fim": "psm"}), "t")
    assert (p["fim"], p["infill_stop"]) == (fim, stop)


def test_completions_from_a_file_claim_no_decoding():
    fields = {"prompt_format": "pf", "prompt_sha256": "h", "dataset_sha256": "d", "max_new_tokens": 5, "chat": False,
              "fim": "psm", "single_line": True}
    p = of_result(_doc(fields, {"temperature": 0}, backend="file"), "t")
    for k in ("prompt_format", "prompt_sha256", "decoding", "max_new_tokens", "chat", "fim", "infill_stop"):
        assert p[k] is None, k
    assert p["dataset_sha256"] == "d"


@pytest.mark.parametrize("gen,expected", [
    ({}, None),
    ({"n_samples": 3}, None),
    ({"temperature": 0, "n_samples": 1}, {"greedy": True, "n_samples": 1}),
    ({"temperature": -1}, {"greedy": True, "n_samples": None}),
    ({"temperature": 0.2}, {"greedy": False, "temperature": 0.2, "top_p": 1.0, "n_samples": None}),
    ({"temperature": 1, "top_p": 0.5, "n_samples": 2}, {"greedy": False, "temperature": 1, "top_p": 0.5,
                                                         "n_samples": 2}),
])
def test_decoding_of_generation_settings(gen, expected):
    assert decoding_of(gen) == expected


def test_run_options_that_change_a_task_are_refused():
    class Single(SmallInfill):
        name = "small-single"
        single_line = True

    class BaseOnly(Small):
        name = "small-base"
        chat_variant = "small-instruct"

    plain, infill, single = Small(), SmallInfill(), Single()
    check_run_options([plain], chat=True, fim=None, infill_stop=None)
    check_run_options([plain, infill], chat=False, fim="spm", infill_stop=None)
    check_run_options([single, plain], chat=False, fim=None, infill_stop="eot")
    with pytest.raises(UserError, match="--fim") as e:
        check_run_options([plain, BaseOnly()], chat=False, fim="psm", infill_stop=None)
    assert "small, small-base" in str(e.value)  # the tasks are named
    with pytest.raises(UserError, match="--infill-stop"):
        check_run_options([plain, infill], chat=False, fim=None, infill_stop="eot")
    with pytest.raises(UserError, match="small-instruct"):
        check_run_options([plain, BaseOnly()], chat=True, fim=None, infill_stop=None)
    check_run_options([BaseOnly()], chat=False, fim=None, infill_stop=None)
