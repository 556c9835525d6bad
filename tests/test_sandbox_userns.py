"""The sandbox as an ordinary user (user-namespace mode), checked from a root session by dropping to nobody."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

CHECK = r'''
import json, os
from evalkit.sandbox import SandboxConfig
from evalkit.evaluators.runs_to_end import program_spec, verdict
from evalkit.sandbox import pool as _pool


def Job(key, program, timeout=3.0):
    return _pool.Job(key, program_spec(program, timeout))


class SandboxPool(_pool.SandboxPool):
    def run(self, jobs, on_result):
        super().run(jobs, lambda job, facts: on_result(job, verdict(facts)))
progs = {
    "ok": "assert 1 + 1 == 2\n",
    "fork_bomb": "import os\nwhile True:\n    os.fork()\n",
    "write": "open(%(target)r, 'w').write('x')\n",
    "net": "import socket\ns = socket.socket()\ns.connect(('127.0.0.1', 22))\n",
    "kill_parent": "import os, time\nos.kill(os.getppid(), 9)\ntime.sleep(0.2)\nassert False\n",
    "remount_rw": "import ctypes\nlibc = ctypes.CDLL(None, use_errno=True)\n"
                  "assert libc.mount(None, b'/', None, 32 | 4096, None) == 0\n",
    "daemon": "import os, time\nif os.fork() == 0:\n    os.setsid()\n    time.sleep(60)\n",
    "loop": "while True: pass\n",
    "memory": "x = bytearray(8 * 2**30)\n",
}
got = {}
with SandboxPool(SandboxConfig(timeout=1), workers=2) as pool:
    pool.run([Job(k, p) for k, p in progs.items()], lambda j, r: got.__setitem__(j.key, r.outcome))
    layers = pool.layers
print(json.dumps({"uid": os.getuid(), "layers": layers, "got": got}))
'''


def test_user_namespace_mode_as_nobody(tmp_path):
    setpriv, python = shutil.which("setpriv"), "/usr/bin/python3"
    if os.geteuid() != 0 or not setpriv or not os.path.exists(python):
        pytest.skip("needs root, setpriv and a system python3 to become an ordinary user")
    target = tmp_path / "written-by-sample"
    os.chmod(tmp_path, 0o777)
    cmd = [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", "env", f"PYTHONPATH={REPO}", "HOME=/tmp",
           python, "-c"]
    if subprocess.run(cmd + ["import evalkit.sandbox.pool"], capture_output=True, cwd="/").returncode != 0:
        pytest.skip(f"{REPO} is not readable by an ordinary user here")
    r = subprocess.run(cmd + [CHECK % {"target": str(target)}], capture_output=True, text=True, cwd="/", timeout=120)
    assert r.returncode == 0, r.stderr
    import json

    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert out["uid"] == 65534
    lay = out["layers"]
    assert lay["mode"] == "userns" and lay["user_namespace"] and lay["network_namespace"] and lay["readonly_root"]
    assert lay["fork_limit"] and lay["pid_namespace"]
    assert out["got"] == {"ok": "passed", "fork_bomb": "error", "write": "error", "net": "error",
                          "kill_parent": "failed", "remount_rw": "failed", "daemon": "passed", "loop": "timeout",
                          "memory": "memory"}
    assert not target.exists()
    left = subprocess.run(["ps", "-u", "65534", "-o", "pid=,stat="], capture_output=True, text=True).stdout.split("\n")
    assert not [x for x in left if x.strip() and "Z" not in x.split()[-1]], left
