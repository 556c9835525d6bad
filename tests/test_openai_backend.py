"""Issue 12: drive OpenAI-compatible servers (--backend openai), with real servers on 127.0.0.1.

The server is ``transformers serve`` (transformers >= 5) with a tiny random checkpoint, started here and stopped
after the module. It answers /v1/completions and /v1/chat/completions, but its /v1/completions takes only a text
prompt ("prompt must be a string.", 400) and its chat endpoint rejects vLLM's ``continue_final_message`` (422):
so against it evalkit sends infilling prompts as text with the sentinel strings, and chat prompts as a user turn
only; both choices are recorded in results.json and checked below. The token-id path (what vLLM takes) is checked
against the instant server of bench/serving.py, which accepts token-id prompts.

Faults come from a proxy written here, between evalkit and the real server: it answers some requests 500/429/503,
holds one past the request timeout and drops one connection, and counts what it forwards.
"""

from __future__ import annotations

import http.client
import http.server
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest
from conftest import REPO, data_dir, evalkit, not_progress

GEN = ["--max-new-tokens", "24"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_up(url: str, proc: subprocess.Popen, timeout: float = 180) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not come up")


def _start_serve(model: Path, log: Path) -> tuple[subprocess.Popen, str]:
    """``transformers serve MODEL`` (pinned to the model, CPU) on a free port: (process, base URL)."""
    port = _free_port()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "transformers.cli.transformers", "serve", str(model), "--host", "127.0.0.1",
         "--port", str(port), "--device", "cpu", "--dtype", "float32"],
        stdout=open(log, "wb"), stderr=subprocess.STDOUT, env=env)
    return proc, f"http://127.0.0.1:{port}"


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="module")
def model(tiny_models) -> Path:
    return tiny_models("gpt2", fim=True, chat=True)


@pytest.fixture(scope="module")
def servers(model, tmp_path_factory):
    """Two ``transformers serve`` processes with the same model, started together: A for every test, B to kill."""
    logs = tmp_path_factory.mktemp("serve")
    started = [_start_serve(model, logs / f"{name}.log") for name in "AB"]
    try:
        for proc, url in started:
            _wait_up(url + "/health", proc)
        yield started
    finally:
        for proc, _ in started:
            _stop(proc)


class Proxy:
    """An HTTP proxy on 127.0.0.1 in front of ``upstream`` that injects faults into completion requests.

    ``faults``: actions for the first completion requests, in order: an HTTP status (500, 429, 503), "stall"
    (hold the request ``stall_s`` and close without answering) or "drop" (close at once without answering).
    ``always``: an action for every completion request (the retry budget test). ``delay_s``: added to each
    forwarded request. ``posts`` counts completion requests, ``by_action`` what was done with them."""

    def __init__(self, upstream: str, faults: list = (), always: str | int | None = None, delay_s: float = 0.0,
                 stall_s: float = 4.0) -> None:
        self.upstream = upstream.split("//")[1]
        self.faults, self.always, self.delay_s, self.stall_s = list(faults), always, delay_s, stall_s
        self.lock = threading.Lock()
        self.posts = 0
        self.by_action: dict[str, int] = {}
        self.auth: set[str] = set()
        self.paths: set[str] = set()
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a) -> None:  # noqa: ANN002
                pass

            def _forward(self, method: str, body: bytes | None) -> None:
                conn = http.client.HTTPConnection(proxy.upstream, timeout=60)
                try:
                    conn.request(method, self.path, body=body, headers={"content-type": "application/json"})
                    r = conn.getresponse()
                    data = r.read()
                except OSError:  # the upstream is gone: so is this connection
                    self.close_connection = True
                    return
                finally:
                    conn.close()
                self.send_response(r.status)
                for k, v in r.getheaders():
                    if k.lower() in ("content-type", "server", "x-request-id"):
                        self.send_header(k, v)
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                self._forward("GET", None)

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                with proxy.lock:
                    proxy.posts += 1
                    proxy.paths.add(self.path)
                    proxy.auth.add(self.headers.get("authorization", ""))
                    action = proxy.faults.pop(0) if proxy.faults else proxy.always or "pass"
                    proxy.by_action[str(action)] = proxy.by_action.get(str(action), 0) + 1
                if action == "stall":
                    time.sleep(proxy.stall_s)
                    self.close_connection = True
                    return
                if action == "drop":
                    self.close_connection = True
                    return
                if isinstance(action, int):
                    msg = json.dumps({"error": f"injected {action}"}).encode()
                    self.send_response(action)
                    if action == 429:
                        self.send_header("retry-after", "0")
                    self.send_header("content-type", "application/json")
                    self.send_header("content-length", str(len(msg)))
                    self.end_headers()
                    self.wfile.write(msg)
                    return
                time.sleep(proxy.delay_s)
                self._forward("POST", body)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _journal(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "generations.jsonl").read_text().splitlines()]


def _by_key(out: Path) -> dict:
    rows = _journal(out)
    keys = [(r["task"], r["task_id"], r["sample_idx"]) for r in rows]
    assert len(keys) == len(set(keys)), "a sample was journaled twice"
    return {k: r for k, r in zip(keys, rows)}


def test_greedy_same_as_hf_backend_and_provenance(model, servers, tmp_path):
    """humaneval and single-line infilling, greedy: the server's completions are the HF backend's."""
    data_dir()
    url = servers[0][1]
    tasks = "humaneval,humaneval-infill-single"
    hf, api = tmp_path / "hf", tmp_path / "api"
    r = evalkit("run", "--model", str(model), "--tasks", tasks, "--limit", "5", *GEN, "--generate-only",
                "--output-dir", str(hf))
    assert r.returncode == 0, r.stderr[-3000:]
    proxy = Proxy(url)
    try:
        # credentials in the URL and an API key: sent to the server, written nowhere
        base = proxy.url.replace("http://", "http://alice:s3cret-pw@") + "/v1/"
        r = evalkit("run", "--backend", "openai", "--base-url", base, "--model", str(model), "--tasks", tasks,
                    "--limit", "5", *GEN, "--api-key-env", "EVALKIT_TEST_KEY", "--output-dir", str(api),
                    env={"EVALKIT_TEST_KEY": "sk-test-123"})
    finally:
        proxy.close()
    assert r.returncode == 0, r.stderr[-3000:]
    want, got = _by_key(hf), _by_key(api)
    assert set(want) == set(got) and len(got) == 10
    for k in want:
        # raw text too: transformers serve returns the stop string as the HF backend does (vLLM would cut it;
        # the task's post-processing makes the completions equal either way)
        assert got[k]["raw"] == want[k]["raw"], k
        assert got[k]["completion"] == want[k]["completion"], k
        if k[0] == "humaneval-infill-single":  # the text sent is the layout the HF backend feeds as token ids
            assert got[k]["model_input"] == want[k]["model_input"], k
    assert proxy.auth == {"Bearer sk-test-123"}
    assert proxy.paths == {"/v1/completions"}
    for f in api.iterdir():
        text = f.read_text()
        assert "sk-test-123" not in text and "s3cret" not in text and "alice" not in text, f.name
    res = json.loads((api / "results.json").read_text())
    m = res["model"]
    assert m["backend"] == "openai" and m["id"] == str(model)
    assert m["fim"]["family"] == "starcoder" and m["fim"]["prompt"] == "text"  # transformers serve: str prompts only
    assert m["tokenizer"] == str(model)
    s = m["serving"]
    assert s["endpoints"][0]["url"] == proxy.url + "/v1" and "uvicorn" in s["endpoints"][0]["server"]
    assert s["served_model"]["id"] == str(model) and s["api_key_env"] == "EVALKIT_TEST_KEY"
    assert res["tasks"]["humaneval"]["n_problems"] == 5
    assert res["tasks"]["humaneval-infill-single"]["n_problems"] == 5


def test_chat_through_chat_completions(model, servers, tmp_path):
    """transformers serve cannot continue a prefilled assistant turn (422 on continue_final_message): evalkit
    sends the user turn alone, no stop (the chat stop would cut at the opening fence), and extracts the code
    from the whole answer. Issue 23, point 3: it says so, records what was sent per sample, and the protocol
    says new_turn, which check refuses to gate against a local chat run."""
    proxy = Proxy(servers[0][1])
    out = tmp_path / "chat"
    try:
        # no --model: the one model the server lists
        r = evalkit("run", "--backend", "openai", "--base-url", proxy.url, "--chat",
                    "--limit", "2", *GEN, "--output-dir", str(out))
    finally:
        proxy.close()
    assert r.returncode == 0, r.stderr[-3000:]
    assert proxy.paths == {"/v1/chat/completions"}
    assert proxy.by_action == {"pass": 3}  # the probe (answered 422) and one request per sample
    notice = [x for x in r.stderr.splitlines() if "continue_final_message" in x]
    assert len(notice) == 1 and "new turn" in notice[0], r.stderr
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["model"]["chat_mode"] == "new_turn" and manifest["model"]["id"] == str(model)
    for row in _journal(out):
        # a fresh assistant message with no code fence: the whole answer is the program
        assert row["raw"] and row["solution"] == row["raw"]
        assert [m["role"] for m in row["model_input"]] == ["user"]  # what was sent: no assistant prefix
    res = json.loads((out / "results.json").read_text())
    assert res["tasks"]["humaneval"]["protocol"]["chat_mode"] == "new_turn"
    local = json.loads(json.dumps(res))  # the same numbers, as a local chat run records them
    local["model"] = {"backend": "hf", "id": str(model)}
    local["tasks"]["humaneval"]["protocol"]["chat_mode"] = "continue_final_message"
    (tmp_path / "local").mkdir()
    (tmp_path / "local" / "results.json").write_text(json.dumps(local))
    r = evalkit("check", str(out), "--baseline", str(tmp_path / "local"))
    assert r.returncode == 2 and "chat as a new turn (the task's prefix not sent)" in r.stderr, r.stderr
    r = evalkit("compare", str(tmp_path / "local"), str(out))
    assert r.returncode == 0 and "[1]" in r.stdout and "chat as a new turn" in r.stdout


def test_token_id_prompts_where_the_server_takes_them(model, tmp_path):
    """The instant server of bench/serving.py takes a token-id prompt, as vLLM does: FIM goes as token ids with
    the family's end token as stop_token_ids."""
    data_dir()
    sys.path.insert(0, str(REPO / "bench"))
    try:
        import serving
    finally:
        sys.path.pop(0)
    proc, url = serving.start_server()
    out = tmp_path / "ids"
    try:
        r = evalkit("run", "--backend", "openai", "--base-url", url, "--model", "instant", "--tokenizer", str(model),
                    "--tasks", "humaneval-infill-single", "--limit", "3", "--generate-only", "--output-dir", str(out))
        with urllib.request.urlopen(url.replace("/v1", "/stats")) as resp:
            stats = json.loads(resp.read())
    finally:
        proc.kill()
        proc.wait()
    assert r.returncode == 0, r.stderr[-3000:]
    assert stats["token_ids"] == 4 and stats["text"] == 0  # the probe and three samples
    assert stats["stop_token_ids"] == [0]  # <|endoftext|>: the starcoder family's end of middle
    m = json.loads((out / "manifest.json").read_text())["model"]
    assert m["fim"]["prompt"] == "token_ids" and m["serving"]["endpoints"][0]["version"] == {"version": "instant-0"}


def test_faults_are_retried_every_sample_once(model, servers, tmp_path):
    faults = [500, 429, "stall", "drop", 503]
    proxy = Proxy(servers[0][1], faults=faults, stall_s=4.0)
    out = tmp_path / "faults"
    try:
        r = evalkit("run", "--backend", "openai", "--base-url", proxy.url, "--model", str(model), "--limit", "6",
                    *GEN, "--concurrency", "2", "--request-timeout", "3", "--generate-only", "--output-dir", str(out))
    finally:
        proxy.close()
    assert r.returncode == 0, r.stderr[-3000:]
    assert len(_by_key(out)) == 6  # every sample exactly once
    assert not proxy.faults  # every fault was served
    # each fault cost one more request; a normal request slower than the timeout on a busy machine costs more
    assert proxy.posts >= 6 + len(faults)
    assert proxy.by_action["pass"] >= 6


def test_retry_budget_spent_is_one_clear_error(model, servers, tmp_path):
    proxy = Proxy(servers[0][1], always=503)
    try:
        r = evalkit("run", "--backend", "openai", "--base-url", proxy.url, "--model", str(model), "--limit", "1",
                    *GEN, "--max-retries", "2", "--output-dir", str(tmp_path / "x"))
    finally:
        proxy.close()
    assert r.returncode == 2
    lines = not_progress(r.stderr)
    assert len(lines) == 1 and "Traceback" not in r.stderr, r.stderr
    assert proxy.url in lines[0] and "503" in lines[0] and "--resume" in lines[0]
    assert proxy.posts == 3  # one request and two retries


def test_sigkill_then_resume_sends_only_the_missing(model, servers, tmp_path):
    proxy = Proxy(servers[0][1], delay_s=0.3)
    out = tmp_path / "kill"
    args = ["run", "--backend", "openai", "--base-url", proxy.url, "--model", str(model), "--limit", "10", *GEN,
            "--concurrency", "2", "--generate-only", "--output-dir", str(out)]
    try:
        proc = subprocess.Popen([sys.executable, "-m", "evalkit", *args], stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        journal = out / "generations.jsonl"
        deadline = time.time() + 120
        while time.time() < deadline and not (journal.exists() and journal.read_text().count("\n") >= 3):
            time.sleep(0.005)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        have = journal.read_text().count("\n")
        assert 3 <= have < 10
        proxy.posts = 0
        r = evalkit(*args, "--resume")
    finally:
        proxy.close()
    assert r.returncode == 0, r.stderr[-3000:]
    assert proxy.posts == 10 - have  # only the missing samples were asked for
    assert len(_by_key(out)) == 10


def test_two_servers_one_killed_mid_run(model, servers, tmp_path):
    (proc_a, url_a), (proc_b, url_b) = servers
    proxy_a = Proxy(url_a, delay_s=0.05)  # counts what A answered
    out = tmp_path / "dp"
    args = ["run", "--backend", "openai", "--base-url", f"{proxy_a.url},{url_b}", "--model", str(model),
            "--limit", "3", "--n-samples", "6", "--temperature", "0.8", *GEN, "--concurrency", "4",
            "--generate-only", "--output-dir", str(out)]
    try:
        run = subprocess.Popen([sys.executable, "-m", "evalkit", *args], stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True)
        journal = out / "generations.jsonl"
        deadline = time.time() + 120
        while time.time() < deadline and not (journal.exists() and journal.read_text().count("\n") >= 4):
            time.sleep(0.005)
        os.kill(proc_b.pid, signal.SIGKILL)  # server B dies mid-run
        proc_b.wait()
        killed_at = journal.read_text().count("\n")
        _, err = run.communicate(timeout=300)
    finally:
        proxy_a.close()
    assert killed_at < 18
    assert run.returncode == 0, err[-3000:]
    assert len(_by_key(out)) == 18  # the run completed, each sample once
    assert proxy_a.posts < 18  # B did part of the work before it died; A did the rest


@pytest.mark.parametrize("args, message", [
    (["--backend", "openai"], "--backend openai needs --base-url"),
    (["--base-url", "http://127.0.0.1:1"], "--base-url needs --backend openai"),
    (["--backend", "openai", "--base-url", "ftp://example.org"], "is not an http(s) URL"),
    (["--backend", "openai", "--base-url", "http://127.0.0.1:{port}"], "no server answers"),
    (["--backend", "openai", "--base-url", "http://127.0.0.1:{port}", "--api-key-env", "EVALKIT_UNSET_KEY_VAR"],
     "EVALKIT_UNSET_KEY_VAR: that environment variable is not set"),
    (["--backend", "openai", "--base-url", "http://127.0.0.1:{port}", "--concurrency", "0"],
     "--concurrency must be at least 1"),
])
def test_bad_serving_options_are_one_line_errors(args, message, tmp_path):
    port = str(_free_port())  # nothing listens there
    r = evalkit("run", *[a.replace("{port}", port) for a in args], "--limit", "1", "--output-dir", str(tmp_path / "o"))
    assert r.returncode == 2, r.stderr
    assert r.stderr.count("\n") == 1 and message in r.stderr, r.stderr
    assert not (tmp_path / "o").exists()


def test_urls_are_recorded_without_credentials():
    from evalkit.backends.openai import api_root, clean_url

    assert api_root("http://h:8000") == api_root("http://h:8000/v1/") == "http://h:8000/v1"
    assert clean_url("https://u:p@h:8443/v1?key=x#f") == "https://h:8443/v1"
    assert clean_url("http://u@[::1]:8000/v1") == "http://[::1]:8000/v1"


@pytest.fixture(scope="module")
def llama_server(tiny_models, tmp_path_factory):
    """``transformers serve`` with a tiny Llama (a SentencePiece-style tokenizer), for points 6 and 7 of issue 23;
    the last test that uses it kills it."""
    model = tiny_models("llama")
    proc, url = _start_serve(model, tmp_path_factory.mktemp("serve-llama") / "llama.log")
    try:
        _wait_up(url + "/health", proc)
        yield model, proc, url
    finally:
        _stop(proc)


def test_lost_leading_space_is_detected_said_and_recorded(llama_server, tmp_path):
    """Issue 23, point 6: transformers serve decodes the new tokens alone and returns no token ids; with a
    SentencePiece-style tokenizer a completion's leading space is lost. evalkit says so once and records it; the
    texts differ from the HF backend's by that space at most."""
    from transformers import AutoTokenizer

    from evalkit.backends.served_text import drops_leading_space

    model, _, url = llama_server
    assert drops_leading_space(AutoTokenizer.from_pretrained(model))
    hf, api = tmp_path / "hf", tmp_path / "api"
    r = evalkit("run", "--model", str(model), "--limit", "3", *GEN, "--generate-only", "--output-dir", str(hf))
    assert r.returncode == 0, r.stderr[-3000:]
    r = evalkit("run", "--backend", "openai", "--base-url", url, "--model", str(model), "--limit", "3", *GEN,
                "--generate-only", "--output-dir", str(api))
    assert r.returncode == 0, r.stderr[-3000:]
    warned = [x for x in r.stderr.splitlines() if "loses one space" in x]
    assert len(warned) == 1 and "token ids" in warned[0], r.stderr
    decoding = json.loads((api / "manifest.json").read_text())["model"]["text_decoding"]
    assert decoding["by"] == "server" and decoding["leading_space"].startswith("may be lost")
    want, got = _by_key(hf), _by_key(api)
    for k in want:
        w, g = want[k]["raw"], got[k]["raw"]
        assert g == w or (w.startswith(" ") and g == w[1:]), (k, w[:40], g[:40])


def test_byte_level_tokenizer_keeps_its_space(model):
    from transformers import AutoTokenizer

    from evalkit.backends.served_text import decode_after_anchor, drops_leading_space, token_ids

    tok = AutoTokenizer.from_pretrained(model)
    assert not drops_leading_space(tok)
    ids = tok.encode("    return x", add_special_tokens=False)
    assert decode_after_anchor(tok, ids) == "    return x"
    assert token_ids({"logprobs": {"tokens": [f"token_id:{i}" for i in ids]}}) == ids
    assert token_ids({"logprobs": {"tokens": ["ret", "urn"]}}) is None and token_ids({"logprobs": None}) is None


def test_a_single_server_killed_mid_run_stops_the_run_with_one_line(llama_server, tmp_path):
    """Issue 23, point 7: the only server dies (SIGTERM) mid-run: a line says it is down, and once it has been
    down past the retry budget the run stops with exit 2 naming the URL; what finished stays journaled."""
    model, proc, url = llama_server
    out = tmp_path / "dead"
    run = subprocess.Popen([sys.executable, "-m", "evalkit", "run", "--backend", "openai", "--base-url", url,
                            "--model", str(model), "--limit", "40", *GEN, "--concurrency", "4", "--max-retries", "2",
                            "--generate-only", "--output-dir", str(out)],
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    journal = out / "generations.jsonl"
    deadline = time.time() + 300
    while time.time() < deadline and not (journal.exists() and journal.read_text().count("\n") >= 3):
        time.sleep(0.005)
    proc.send_signal(signal.SIGTERM)  # the server goes away mid-run
    killed = time.time()
    _, err = run.communicate(timeout=300)
    took = time.time() - killed
    assert run.returncode == 2, err[-3000:]
    assert "Traceback" not in err and took < 90, (took, err[-3000:])
    lines = err.strip().splitlines()
    assert sum(f"server {url}/v1 is down (" in x for x in lines) == 1, err
    assert lines[-1].startswith("evalkit: error: ") and url in lines[-1] and "--resume" in lines[-1], lines[-1]
    have = len(_by_key(out))  # every finished sample once
    assert 3 <= have < 40
