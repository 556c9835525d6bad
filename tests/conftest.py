from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"

FIXTURES = REPO / "tests" / "data"  # a few records of each benchmark file (see tests/data/README.md)

# Benchmark data: $EVALKIT_DATA_DIR, else ../shared/data beside the repository, else the fixture subsets, so
# that every test runs on a fresh clone; only the checks that need every problem want the full data.
if not os.environ.get("EVALKIT_DATA_DIR"):
    os.environ["EVALKIT_DATA_DIR"] = str(SHARED / "data" if (SHARED / "data").is_dir() else FIXTURES)
FULL_DATA = Path(os.environ["EVALKIT_DATA_DIR"]).resolve() != FIXTURES.resolve()
TOKENIZERS = Path(os.environ.get("EVALKIT_TOKENIZERS_DIR", SHARED / "tokenizers"))


def data_dir() -> Path:
    """The benchmark data folder the tests use (full data or the fixture subsets)."""
    d = Path(os.environ["EVALKIT_DATA_DIR"])
    if not d.is_dir():
        pytest.skip(f"EVALKIT_DATA_DIR={d} is not a directory")
    return d


def full_data() -> Path:
    """The full benchmark data; skips on the fixture subsets (set EVALKIT_DATA_DIR to run the check)."""
    if not FULL_DATA:
        pytest.skip("needs the full benchmark data (set EVALKIT_DATA_DIR)")
    return data_dir()


def expected(full: int, fixture: int) -> int:
    """A count that depends on the data: `full` with the full benchmark files, `fixture` on tests/data."""
    return full if FULL_DATA else fixture


def evalkit(*args: str, cwd: str | Path | None = None, timeout: float = 600, env: dict | None = None):
    """Run the real CLI in a subprocess, as a user would."""
    return subprocess.run(
        [sys.executable, "-m", "evalkit", *args], capture_output=True, text=True, cwd=cwd, timeout=timeout,
        env={**os.environ, **(env or {})},
    )


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory):
    """Build each tiny checkpoint once per session: tiny_models('llama') -> its directory."""
    import tiny

    built: dict[tuple, Path] = {}

    def get(arch: str, **kw) -> Path:
        key = (arch, tuple(sorted(kw.items())))
        if key not in built:
            name = arch + "".join(f"-{k}" for k, v in sorted(kw.items()) if v)
            built[key] = tiny.build(arch, tmp_path_factory.mktemp("models") / name, **kw)
        return built[key]

    return get


def kill_when(args: list[str], journal: Path, lines: int, timeout: float = 120) -> int:
    """Start the CLI, SIGKILL it once `journal` holds `lines` lines; returns how many it held then."""
    import signal
    import time

    proc = subprocess.Popen([sys.executable, "-m", "evalkit", *args], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.time() + timeout
    while time.time() < deadline and not (journal.exists() and journal.read_text().count("\n") >= lines):
        time.sleep(0.005)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    return journal.read_text().count("\n") if journal.exists() else 0


def not_progress(stderr: str) -> list[str]:
    """stderr's lines but the plain progress lines a run prints off a terminal (``generate x: 4/40 sample (10%)``)."""
    return [x for x in stderr.strip().splitlines() if not re.match(r"^[\w -]+: \d+/\d+ \w+ \(\d+%\)", x)]


def assert_one_line_error(r: subprocess.CompletedProcess, expect: str) -> str:
    """The CLI failed on bad input as it should: exit 2, one line on stderr holding `expect`, no traceback."""
    assert r.returncode == 2, (r.returncode, r.stderr[-2000:])
    lines = not_progress(r.stderr)
    assert len(lines) == 1 and "Traceback" not in r.stderr, r.stderr[-2000:]
    assert expect in lines[0], lines[0]
    return lines[0]


# no data folder, no hub: a closed local port stands for an unreachable hub, and an empty cache
OFFLINE = {"EVALKIT_DATA_DIR": "", "HF_ENDPOINT": "http://127.0.0.1:9", "HF_HUB_OFFLINE": "",
           "HF_DATASETS_OFFLINE": "", "TRANSFORMERS_OFFLINE": "", "HTTPS_PROXY": "", "https_proxy": "",
           "ALL_PROXY": "", "all_proxy": ""}


@pytest.fixture(scope="module")
def sentinel(tmp_path_factory):
    """A folder shown to samples read-only, world-writable on the host: a sample's write to it must fail."""
    d = tmp_path_factory.mktemp("sentinel")
    (d / "keep.txt").write_text("precious")
    os.chmod(d, 0o777)
    os.chmod(d / "keep.txt", 0o666)
    return d


@pytest.fixture(scope="module")
def server():
    """A real TCP server on loopback, counting connections: a sample must not reach it."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen()
    srv.settimeout(0.2)
    hits: list[int] = []
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = srv.accept()
                hits.append(1)
                conn.close()
            except OSError:
                pass

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    yield srv.getsockname()[1], hits
    stop.set()
    t.join()
    srv.close()


def sample_procs(roots: list[int] | None = None, uid_is: int | None = None) -> list[int]:
    """Processes under the samples' uids (>= 1,000,000), or under the uid ``uid_is``; with ``roots``, only those
    descending from these pids (an orphan is adopted by its worker's init, itself a descendant)."""
    parent, uid = {}, {}
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                with open(f"/proc/{pid}/status") as f:
                    for line in f:
                        if line.startswith("PPid:"):
                            parent[int(pid)] = int(line.split()[1])
                        elif line.startswith("Uid:"):
                            uid[int(pid)] = int(line.split()[1])
            except OSError:
                pass
    out = []
    for pid, u in uid.items():
        if (u != uid_is) if uid_is is not None else u < 1_000_000:
            continue
        if roots is None:
            out.append(pid)
            continue
        p, hops = pid, 0
        while p in parent and p not in roots and hops < 64:
            p, hops = parent[p], hops + 1
        if p in roots:
            out.append(pid)
    return out
