"""Issue 14: no hub, a data folder that is missing, empty, partial or corrupt, a model folder that is not a
checkpoint: one line each, exit 2, fast; a --generate-only run remembers its data for `evaluate`."""

from __future__ import annotations

import gzip
import json
import shutil
import time

import pytest
from conftest import FIXTURES, OFFLINE, assert_one_line_error, evalkit


def _offline(tmp_path) -> dict:
    return OFFLINE | {"HF_HOME": str(tmp_path / "hf-home")}


def test_no_hub_fails_at_once_with_one_line(tmp_path):
    t0 = time.monotonic()
    r = evalkit("run", "--tasks", "mbpp", "--output-dir", str(tmp_path / "o"), env=_offline(tmp_path))
    line = assert_one_line_error(r, "cannot load MBPP")
    assert "hub is offline" in line and "--data-dir" in line and "HF_HUB_OFFLINE=1" in line
    r = evalkit("run", "--model", "someorg/x", "--output-dir", str(tmp_path / "o"), env=_offline(tmp_path))
    line = assert_one_line_error(r, "cannot load model someorg/x: not in the local cache and the hub is offline")
    assert "local checkpoint directory" in line
    assert time.monotonic() - t0 < 120  # no minute of retries (one line above: no retry noise either)
    assert not (tmp_path / "o").exists()


def test_model_folder_that_is_not_a_checkpoint(tmp_path, tiny_models):
    from evalkit.errors import UserError
    from evalkit.hub import check_model_dir

    m = tmp_path / "m"
    m.mkdir()
    with pytest.raises(UserError, match="is empty: a checkpoint needs config.json"):
        check_model_dir(m)
    (m / "config.json").write_text("{}")
    assert_one_line_error(evalkit("run", "--model", str(m)), "config.json names no model_type")
    (m / "config.json").write_text('{"model_type": "llama"}')
    with pytest.raises(UserError, match="has no tokenizer files"):
        check_model_dir(m)
    (m / "tokenizer.json").write_text("{}")
    with pytest.raises(UserError, match="has no weights"):
        check_model_dir(m)
    check_model_dir(m, weights=False)  # `prompt` needs no weights
    check_model_dir(tiny_models("llama"))  # a real checkpoint passes


def test_data_dir_missing_empty_or_partial(tmp_path):
    assert_one_line_error(evalkit("run", "--tasks", "mbpp", "--data-dir", str(tmp_path / "nothing")),
                          "nothing: no such directory")
    assert_one_line_error(evalkit("tasks", "--data-dir", str(tmp_path / "nothing")), "no such directory")
    (tmp_path / "empty").mkdir()
    assert_one_line_error(evalkit("run", "--tasks", "mbpp", "--data-dir", str(tmp_path / "empty")), "is empty")
    part = tmp_path / "part"
    (part / "mbpp").mkdir(parents=True)
    shutil.copy(FIXTURES / "mbpp" / "mbpp.jsonl", part / "mbpp")
    assert_one_line_error(evalkit("run", "--tasks", "mbpp-sanitized", "--data-dir", str(part), env=OFFLINE),
                          "has no mbpp/sanitized-mbpp.json")
    r = evalkit("run", "--tasks", "mbpp", "--limit", "1", "--data-dir", str(part), "--output-dir",
                str(tmp_path / "o"), env=OFFLINE)
    assert r.returncode == 0, r.stderr
    r = evalkit("tasks", "--data-dir", str(part), env=OFFLINE)
    assert r.returncode == 0 and "has no humaneval-infilling/HumanEval-SingleLineInfilling.jsonl.gz" in r.stderr
    table = r.stdout.split("\n\n")[0]  # the note below the table is not a row
    counts = dict(line.split()[:2] for line in table.splitlines()[1:])
    assert counts["mbpp"] == "8" and counts["mbpp-sanitized"] == "-" and counts["humaneval"] == "164"


def _data_copy(tmp_path):
    d = tmp_path / "data"
    shutil.copytree(FIXTURES, d)
    return d


@pytest.mark.parametrize("damage,task,expect", [
    ("truncate-jsonl", "mbpp", "mbpp.jsonl:11: malformed JSON"),
    ("no-field-jsonl", "mbpp", "mbpp.jsonl:4: record (task_id 11) has no field 'code'"),
    ("truncate-json", "mbpp-sanitized", "sanitized-mbpp.json:"),
    ("no-field-json", "mbpp-sanitized", "sanitized-mbpp.json record 2 (task_id 3) has no field 'test_list'"),
    ("truncate-gz", "humaneval-infill-single", "gzip data cut short"),
    ("not-gz", "humaneval-infill-single", "not a gzip file"),
    ("no-field-gz", "humaneval-infill-single", "HumanEval-SingleLineInfilling.jsonl.gz:2: record"),
])
def test_corrupt_local_data_names_file_and_line(damage, task, expect, tmp_path):
    d = _data_copy(tmp_path)
    mbpp, san = d / "mbpp" / "mbpp.jsonl", d / "mbpp" / "sanitized-mbpp.json"
    gz = d / "humaneval-infilling" / "HumanEval-SingleLineInfilling.jsonl.gz"
    if damage == "truncate-jsonl":
        mbpp.write_bytes(mbpp.read_bytes()[:-40])
    elif damage == "no-field-jsonl":
        rows = [json.loads(x) for x in mbpp.read_text().splitlines()]
        del rows[3]["code"]
        mbpp.write_text("".join(json.dumps(r) + "\n" for r in rows))
    elif damage == "truncate-json":
        san.write_bytes(san.read_bytes()[:-100])
    elif damage == "no-field-json":
        rows = json.loads(san.read_text())
        del rows[1]["test_list"]
        san.write_text(json.dumps(rows))
    elif damage == "truncate-gz":
        gz.write_bytes(gz.read_bytes()[:-30])
    elif damage == "not-gz":
        gz.write_bytes(gzip.decompress(gz.read_bytes()))
    elif damage == "no-field-gz":
        rows = [json.loads(x) for x in gzip.decompress(gz.read_bytes()).decode().splitlines()]
        del rows[1]["suffix"]
        gz.write_bytes(gzip.compress("".join(json.dumps(r) + "\n" for r in rows).encode()))
    line = assert_one_line_error(evalkit("run", "--tasks", task, "--data-dir", str(d)), expect)
    assert str(d) in line
    r = evalkit("tasks", "--data-dir", str(d))  # the listing survives a corrupt file and says which
    assert r.returncode == 0 and expect in r.stderr, r.stderr


def test_generate_only_remembers_its_data_for_evaluate(tmp_path):
    out = tmp_path / "o"
    d = _data_copy(tmp_path)
    r = evalkit("run", "--tasks", "mbpp", "--limit", "2", "--generate-only", "--output-dir", str(out),
                "--data-dir", str(d), env=OFFLINE)
    assert r.returncode == 0, r.stderr
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["data_dir"] == str(d.absolute()) and len(manifest["tasks"]["mbpp"]["dataset_sha256"]) == 64
    # no data folder given and no hub: evaluate finds the run's own
    r = evalkit("evaluate", str(out), env=OFFLINE)
    assert r.returncode == 0, r.stderr
    assert json.loads((out / "results.json").read_text())["tasks"]["mbpp"]["pass@1"] == 1.0
    # other data than the run was made with (same file names, other contents): refused, hashes named
    other = tmp_path / "other"
    shutil.copytree(d, other)
    rows = (other / "mbpp" / "mbpp.jsonl").read_text().splitlines()
    (other / "mbpp" / "mbpp.jsonl").write_text("\n".join(rows[:-1]) + "\n")
    line = assert_one_line_error(evalkit("evaluate", str(out), "--data-dir", str(other)),
                                 "is not the data the run was generated with")
    assert manifest["tasks"]["mbpp"]["dataset_sha256"][:12] in line
