"""Issue 5: MBPP with the paper's protocol, the other variants, and hub-layout loading without a network."""

from __future__ import annotations

import json

import pytest
from conftest import data_dir, evalkit, expected

# the shots' code keeps the dataset's CRLF line ends, as lm-evaluation-harness renders it (issue 11)
GOLDEN_11 = (
    "You are an expert Python programmer, and here is your task: Write a function to find the similar elements "
    "from the given two tuple lists. Your code should pass these tests:\n\n"
    "assert similar_elements((3, 4, 5, 6),(5, 7, 4, 10)) == (4, 5)\n"
    "assert similar_elements((1, 2, 3, 4),(5, 4, 3, 7)) == (3, 4)\n"
    "assert similar_elements((11, 12, 14, 13),(17, 15, 14, 13)) == (13, 14)\n"
    "[BEGIN]\ndef similar_elements(test_tup1, test_tup2):\r\n  res = tuple(set(test_tup1) & set(test_tup2))\r\n"
    "  return (res) \n[DONE]\n\n"
    "You are an expert Python programmer, and here is your task: Write a python function to identify non-prime "
    "numbers. Your code should pass these tests:\n\n"
    "assert is_not_prime(2) == False\nassert is_not_prime(10) == True\nassert is_not_prime(35) == True\n"
    "[BEGIN]\nimport math\r\ndef is_not_prime(n):\r\n    result = False\r\n"
    "    for i in range(2,int(math.sqrt(n)) + 1):\r\n        if n % i == 0:\r\n            result = True\r\n"
    "    return result\n[DONE]\n\n"
    "You are an expert Python programmer, and here is your task: Write a function to find the largest integers "
    "from a given list of numbers using heap queue algorithm. Your code should pass these tests:\n\n"
    "assert heap_queue_largest( [25, 35, 22, 85, 14, 65, 75, 22, 58],3)==[85, 75, 65] \n"
    "assert heap_queue_largest( [25, 35, 22, 85, 14, 65, 75, 22, 58],2)==[85, 75] \n"
    "assert heap_queue_largest( [25, 35, 22, 85, 14, 65, 75, 22, 58],5)==[85, 75, 65, 58, 35]\n"
    "[BEGIN]\nimport heapq as hq\r\ndef heap_queue_largest(nums,n):\r\n  largest_nums = hq.nlargest(n, nums)\r\n"
    "  return largest_nums\n[DONE]\n\n"
    "You are an expert Python programmer, and here is your task: Write a python function to remove first and "
    "last occurrence of a given character from the string. Your code should pass these tests:\n\n"
    'assert remove_Occ("hello","l") == "heo"\nassert remove_Occ("abcda","a") == "bcd"\n'
    'assert remove_Occ("PHP","P") == "H"\n[BEGIN]\n'
)


@pytest.fixture(autouse=True)
def _data():
    data_dir()


def test_golden_three_shot_prompt_of_task_11():
    from evalkit.registry import get_task

    task = get_task("mbpp")
    p = task.problems()[0]
    assert p.task_id == "MBPP/11"
    assert p.prompt == GOLDEN_11


@pytest.mark.parametrize("task,n", [("mbpp", expected(500, 8)), ("mbpp-sanitized", expected(257, 6)),
                                    ("mbpp-0shot", expected(500, 8)), ("mbpp-instruct", expected(500, 8))])
def test_reference_solutions_pass(task, n, tmp_path):
    """Every reference solution passes: all 500 (257) problems with the full data, the fixture's few without."""
    out = tmp_path / task
    # MBPP/123's own solution needs 2.5-6 s of CPU depending on the machine (5.6 s in plain python on a slow
    # one): this checks the data and the judging, not the 3-second protocol limit
    r = evalkit("run", "--model", "reference", "--tasks", task, "--output-dir", str(out), "--timeout", "15")
    assert r.returncode == 0, r.stderr[-2000:]
    t = json.loads((out / "results.json").read_text())["tasks"][task]
    assert t["n_problems"] == n and t["pass@1"] == 1.0, t["outcomes"]
    assert len(t["protocol"]["dataset_sha256"]) == 64 and t["protocol"]["prompt_format"]
    ids = [json.loads(line)["task_id"] for line in (out / "samples.jsonl").read_text().splitlines()]
    assert ids[0] == "MBPP/11" and ids[-1] == expected("MBPP/510", "MBPP/18") if task != "mbpp-sanitized" else ids[0] == "MBPP/11"


def test_task_id_spellings_map_to_one_canonical_form(tmp_path):
    from evalkit.registry import get_task

    code = get_task("mbpp").problems()[0].reference
    f = tmp_path / "in.jsonl"
    f.write_text("".join(json.dumps({"task_id": t, "completion": code}) + "\n" for t in (11, "11", "Mbpp/11", "MBPP/11")))
    r = evalkit("evaluate", "--task", "mbpp", str(f), "--output-dir", str(tmp_path / "o"))
    assert r.returncode == 0, r.stderr
    rows = [json.loads(line) for line in (tmp_path / "o" / "samples.jsonl").read_text().splitlines()]
    assert [(x["task_id"], x["sample_idx"], x["passed"]) for x in rows] == [("MBPP/11", i, True) for i in range(4)]


@pytest.mark.parametrize("task", ["mbpp", "mbpp-0shot", "mbpp-instruct", "mbpp-sanitized"])
def test_tiny_model_runs_every_variant(task, tiny_models, tmp_path):
    out = tmp_path / "o"
    r = evalkit("run", "--model", str(tiny_models("qwen2")), "--tasks", task, "--limit", "3",
                "--max-new-tokens", "16", "--output-dir", str(out))
    assert r.returncode == 0, r.stderr[-2000:]
    assert json.loads((out / "results.json").read_text())["tasks"][task]["n_problems"] == 3


def test_instruct_code_is_taken_from_python_tags():
    from evalkit.registry import get_task

    task = get_task("mbpp-instruct")
    p = task.problems()[0]
    gen = "Sure.\n[PYTHON]\ndef remove_Occ(s, ch):\n    return s\n[/PYTHON]\nExplanation..."
    assert task.postprocess(p, gen) == "def remove_Occ(s, ch):\n    return s\n"


HUB_README = """---
configs:
- config_name: full
  data_files:
{splits}  default: true
---
# mbpp (local copy laid out like the hub repository)
"""


def test_hub_layout_loads_through_datasets_without_network(tmp_path, monkeypatch):
    import datasets

    rows = [json.loads(x) for x in (data_dir() / "mbpp" / "mbpp.jsonl").read_text().splitlines() if x.strip()]
    repo = tmp_path / "mbpp-hub"
    (repo / "full").mkdir(parents=True)
    feats = datasets.Features({"task_id": datasets.Value("int32"), "text": datasets.Value("string"),
                               "code": datasets.Value("string"), "test_list": datasets.Sequence(datasets.Value("string")),
                               "test_setup_code": datasets.Value("string"),
                               "challenge_test_list": datasets.Sequence(datasets.Value("string"))})
    splits = {"prompt": (1, 10), "test": (11, 510), "validation": (511, 600), "train": (601, 974)}
    listed = ""
    for split, (lo, hi) in splits.items():
        part = [r for r in rows if lo <= r["task_id"] <= hi]
        if not part:  # the fixture subset has no train or validation rows
            continue
        listed += f"  - split: {split}\n    path: full/{split}-*\n"
        ds = datasets.Dataset.from_dict({k: [r[k] for r in part] for k in feats}, features=feats)
        ds.to_parquet(str(repo / "full" / f"{split}-00000-of-00001.parquet"))
    (repo / "README.md").write_text(HUB_README.format(splits=listed))
    env = {"HF_DATASETS_OFFLINE": "1", "HF_HUB_OFFLINE": "1", "HF_DATASETS_CACHE": str(tmp_path / "cache")}
    out = tmp_path / "o"
    r = evalkit("run", "--tasks", "mbpp", "--data-dir", str(repo), "--output-dir", str(out), "--timeout", "15", env=env)
    assert r.returncode == 0, r.stderr[-2000:]
    t = json.loads((out / "results.json").read_text())["tasks"]["mbpp"]
    assert t["n_problems"] == expected(500, 8) and t["pass@1"] == 1.0
    assert t["dataset_source"].startswith("datasets.load_dataset(")
    first = json.loads((out / "samples.jsonl").read_text().splitlines()[0])
    assert first["prompt"] == GOLDEN_11
    # with no local data and no network: one clear line, exit 2
    r = evalkit("run", "--tasks", "mbpp", env=env | {"EVALKIT_DATA_DIR": ""})
    assert r.returncode == 2 and "cannot load MBPP" in r.stderr and "Traceback" not in r.stderr


def test_bad_data_dir_path_is_reported(tmp_path):
    r = evalkit("tasks", "--data-dir", str(tmp_path / "nothing"), env={"HF_DATASETS_OFFLINE": "1",
                                                                      "HF_HUB_OFFLINE": "1"})
    assert r.returncode == 2 and "nothing: no such directory" in r.stderr and "Traceback" not in r.stderr


def test_shots_are_recorded_as_a_number():
    """Issue 23, point 2: results carry the number of shots, not the shot problems' text."""
    from evalkit.registry import get_task

    task = get_task("mbpp", data_dir=str(data_dir()))
    task.problems()
    assert task.info()["shots"] == 3 and type(task.info()["shots"]) is int
    assert [r["task_id"] for r in task.shot_rows] == [2, 3, 4]


def test_mbpp_samples_run_with_plain_python_semantics():
    """Issue 23, point 1: evalkit's own `from __future__ import annotations` never reaches a sample: an annotation
    naming a type that was not imported fails (NameError) as in plain python; the same code with the import passes."""
    from evalkit.registry import get_task
    from evalkit.sandbox import run_one

    task = get_task("mbpp", data_dir=str(data_dir()))
    p = next(q for q in task.problems() if q.task_id == "MBPP/11")
    body = ("def remove_Occ(s: Str, ch: str) -> str:\n    i = s.find(ch)\n    s = s[:i] + s[i + 1:] if i >= 0 else s\n"
            "    j = s.rfind(ch)\n    return s[:j] + s[j + 1:] if j >= 0 else s\n")
    bad = task.judge(p, {"completion": body}, run_one(task.execution(p, {"completion": body})))
    assert bad.outcome == "error" and "NameError" in bad.detail, bad
    good_code = "Str = str\n" + body
    good = task.judge(p, {"completion": good_code}, run_one(task.execution(p, {"completion": good_code})))
    assert good.outcome == "passed", good
