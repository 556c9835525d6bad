"""Post-processing of a generation into the sample's code: HumanEval's stop sequences (each one cuts, the earliest
occurrence wins) and code extraction from a chat answer. Fast: no model, no sandbox (the program layout and its
verdicts: test_unit_program.py)."""

from __future__ import annotations

import pytest

from evalkit.task import Problem, Task, cut_at_stop, extract_code
from evalkit.tasks.humaneval import HumanEval

BODY = "    return sorted(x)\n"


def cut(task: Task, generation: str) -> str:
    """The completion ``task.postprocess`` makes of a generation (a string, or a {"completion": ...} record)."""
    out = task.postprocess(PROBLEM, generation)
    return out["completion"] if isinstance(out, dict) else out

PROBLEM = Problem(task_id="HumanEval/0", prompt="def f(x):\n", reference=BODY,
                  test="def check(candidate):\n    assert candidate([2, 1]) == [1, 2]\n", entry_point="f")

# HumanEval's stop sequences as the Codex paper and the Code Llama protocol have them; each must cut on its own
STOPS = ["\nclass", "\ndef", "\n#", "\n@", "\nprint", "\nif", "\n```"]
TAILS = {"\nclass": "\nclass Helper:\n    pass\n", "\ndef": "\ndef g():\n    pass\n", "\n#": "\n# tests\n",
         "\n@": "\n@decorator\ndef h(): pass\n", "\nprint": "\nprint(f([3]))\n", "\nif": "\nif __name__ == '__main__':\n",
         "\n```": "\n```\nThis function sorts.\n"}


@pytest.mark.parametrize("stop", STOPS)
def test_each_humaneval_stop_sequence_cuts_the_generation(stop):
    got = cut(HumanEval(), BODY + TAILS[stop][1:])  # the stop's newline ends the body
    assert got == BODY.rstrip("\n"), (stop, got)


def test_humaneval_declares_exactly_these_stops():
    assert set(HumanEval.stop_sequences) == set(STOPS)


@pytest.mark.parametrize("order", [STOPS, STOPS[::-1]])
def test_the_earliest_stop_wins_not_the_first_listed(order):
    text = "    y = x\nprint(y)\ndef g():\n    pass\nclass C: pass\n"
    assert cut_at_stop(text, order) == "    y = x"
    assert cut(HumanEval(stop_sequences=order), text) == "    y = x"


@pytest.mark.parametrize("text,stops,expected", [
    ("abc", ["\n"], "abc"),  # no stop: the whole text
    ("abc", [], "abc"),
    ("a\nb\nc", ["\n"], "a"),  # the first occurrence of a stop, not the last
    ("\nabc", ["\n"], ""),  # a stop at position 0 cuts everything
    ("abc\n", ["\n"], "abc"),  # a stop at the very end
    ("a;b\nc", ["", "\n", ";"], "a"),  # an empty stop is ignored, not a cut at 0
    ("ab", ["b", "a"], ""),
    ("xyz", ["zz", "y"], "x"),
    ("a\r\nb", ["\n"], "a\r"),
])
def test_cut_at_stop_table(text, stops, expected):
    assert cut_at_stop(text, stops) == expected


def test_a_task_with_its_stops_replaced():
    task = HumanEval(stop_sequences=["END"])
    assert task.stop_sequences == ("END",)
    assert cut(task, "    a\n# b\nEND c") == "    a\n# b\n"
    assert cut(HumanEval(stop_sequences=[]), "x\ndef g(): pass") == "x\ndef g(): pass"


@pytest.mark.parametrize("answer,expected", [
    ("Sure!\n```python\ndef f():\n    return 1\n```\nmore", "def f():\n    return 1\n"),
    ("```\nx = 1\n```", "x = 1\n"),  # a fence without a language
    ("no fence here", "no fence here"),
    ("```python\ndef f():\n    pass\n", "def f():\n    pass\n"),  # an unclosed fence: the rest
    ("text ```python", ""),  # a fence with nothing after it
    ("```py\na\n```\n```py\nb\n```", "a\n"),  # the first block
    ("```\n```", ""),
    ("ab```\ncode```", "code"),
])
def test_extract_code_table(answer, expected):
    assert extract_code(answer) == expected


def test_chat_answer_continuing_the_prompt_is_a_completion_else_a_solution():
    task = HumanEval()
    prefix = "```python\n" + PROBLEM.prompt
    assert task.postprocess_chat(PROBLEM, prefix + BODY + "```\nDone.") == {"completion": BODY}
    whole = "import math\n" + PROBLEM.prompt + BODY
    assert task.postprocess_chat(PROBLEM, "```python\n" + whole + "```") == {"solution": whole}
    # ending with the prompt is not continuing it
    tail = "x = 1\n" + PROBLEM.prompt
    assert task.postprocess_chat(PROBLEM, "```python\n" + tail + "```") == {"solution": tail}


def test_base_task_keeps_the_generation_without_stops():
    class Plain(Task):
        name = "plain"

    assert cut(Plain(), "a\ndef b\n") == "a\ndef b\n"


@pytest.mark.parametrize("raw,expected", [("7", "HumanEval/7"), (7, "HumanEval/7"), ("HumanEval/7", "HumanEval/7"),
                                          ("7a", "7a"), ("x7", "x7")])
def test_humaneval_task_id_spellings(raw, expected):
    assert HumanEval().canonical_task_id(raw) == expected
