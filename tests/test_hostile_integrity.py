"""Issue 18: every verdict is the sample's own. Each attack runs as "attacker, then victim on the same worker"
(one worker): the victim must get the verdict it gets alone, no forged outcome reaches a verdict, and evalkit
never crashes on what a worker sends. The victims are real HumanEval samples judged by the real task."""

from __future__ import annotations

import json
import os

import pytest

from evalkit.evaluators import OUTCOMES
from evalkit.registry import get_task
from evalkit.sandbox import SandboxConfig
from evalkit.sandbox.pool import Job, SandboxPool

HE = get_task("humaneval")
P0 = HE.problems()[13]  # greatest_common_divisor: the victim's problem
P_STATS = HE.problems()[4]  # mean_absolute_deviation


def _job(key: str, problem, completion: str) -> Job:  # noqa: ANN001
    return Job((key, problem.task_id, completion), HE.execution(problem, {"completion": completion}, 3.0))


def _verdicts(jobs: list[Job], workers: int = 1) -> list[tuple[str, str]]:
    got: dict = {}
    by_id = {p.task_id: p for p in HE.problems()}
    with SandboxPool(SandboxConfig(timeout=3), workers=workers) as pool:
        def on(job: Job, facts) -> None:  # noqa: ANN001
            v = HE.judge(by_id[job.key[1]], {"completion": job.key[2]}, facts)
            assert v.outcome in OUTCOMES
            got[job.key[0]] = (v.outcome, v.detail)
        pool.run(jobs, on)
    return [got[j.key[0]] for j in jobs]


RIGHT = P0.reference
WRONG = "    return 1\n"
# a wrong answer that imports a module an attacker may plant (statistics: HumanEval samples import it)
WRONG_STATS = "    import statistics\n    return float(statistics.mean(numbers)) * 0 + 7.0\n"


def _alone(problem, completion: str) -> tuple[str, str]:  # noqa: ANN001
    return _verdicts([_job("v", problem, completion)])[0]


def _after(attack: str, problem, completion: str) -> tuple[str, str]:  # noqa: ANN001
    """The victim's verdict when the attacker (a HumanEval/13 completion) ran just before it on the worker."""
    return _verdicts([_job("a", P0, attack), _job("v", problem, completion)])[1]


PLANT = '''    import os, stat
    for d in (".", "..", os.environ.get("TMPDIR", "."), "/dev/shm"):
        for name in ("statistics.py", "pickle.py", "math.py"):
            try:
                open(os.path.join(d, name), "w").write("mean = lambda *a: 7.0\\nimport sys\\n")
            except OSError:
                pass
    for d in (".", ".."):
        try:
            os.chmod(d, 0o100)
        except OSError:
            pass
    return 1
'''


@pytest.mark.parametrize("victim", [WRONG_STATS, P_STATS.reference])
def test_planted_modules_do_not_reach_the_next_sample(victim):
    assert _after(PLANT, P_STATS, victim) == _alone(P_STATS, victim)
    assert _alone(P_STATS, WRONG_STATS)[0] == "failed"


FORGERS = {
    # walk every frame, find anything that looks like a channel, write a passing report everywhere
    "frames": '''    import sys, os, json
    f = sys._getframe()
    while f is not None:
        for v in list(f.f_locals.values()):
            if isinstance(v, int) and 2 < v < 64:
                for line in (b'{"end": true}\\n', b'passed ""\\n', b'{"r": 1}\\n'):
                    try:
                        os.write(v, line)
                    except OSError:
                        pass
        f = f.f_back
    for fd in range(3, 64):
        try:
            os.write(fd, b'{"end": true}\\n{"r": 1}\\n')
        except OSError:
            pass
    return 1
''',
    "exit_zero_early": "    import os\n    os._exit(0)\n",
    "system_exit": "    raise SystemExit(0)\n",
    "always_equal": "    class E:\n        def __eq__(self, o): return True\n        __hash__ = None\n    return E()\n",
    "int_subclass_eq": "    class I(int):\n        def __eq__(self, o): return True\n    return I(1)\n",
    "patch_assert": "    import builtins\n    builtins.AssertionError = type('N', (Exception,), {})\n    return 1\n",
}


@pytest.mark.parametrize("name", sorted(FORGERS))
def test_a_sample_cannot_forge_its_own_verdict(name):
    outcome, detail = _alone(P0, FORGERS[name])
    assert outcome != "passed", detail


def test_deep_directories_do_not_break_the_worker():
    bomb = ('    import os\n    p = "."\n    for i in range(1500):\n        p = os.path.join(p, "d")\n'
            '        try:\n            os.mkdir(p)\n        except OSError:\n            break\n    return 1\n')
    assert _after(bomb, P0, RIGHT) == ("passed", "")


def test_forged_output_never_crashes_evalkit(monkeypatch):
    monkeypatch.setenv("HF_TOKEN", "hf_" + "a" * 34)  # a token-shaped variable in the harness's environment
    noise = ('    import os, sys\n    big = "[" * 20000 + "]" * 20000\n    lst = "[" + ",".join(["1"] * 300) + "]"\n'
             '    for fd in range(1, 8):\n        for s in (big, lst, "\\xff\\xfe", "x" * 200000):\n'
             '            try:\n                os.write(fd, (s + "\\n").encode("utf-8", "surrogateescape"))\n'
             '            except OSError:\n                pass\n    return 1\n')
    got = _verdicts([_job("a", P0, noise), _job("v", P0, RIGHT)])
    assert got[0][0] != "passed" and got[1] == ("passed", "")


SHM = '''    import ctypes, os
    libc = ctypes.CDLL(None, use_errno=True)
    libc.shmat.restype = ctypes.c_void_p
    for i in range(12):
        sid = libc.shmget(0x5EED + i, 64 << 20, 0o1666)
        if sid < 0:
            break
        addr = libc.shmat(sid, None, 0)
        if addr in (None, ctypes.c_void_p(-1).value):
            break
        ctypes.memset(addr, 7, 64 << 20)
        libc.shmdt(ctypes.c_void_p(addr))
    return 1
'''
SHM_SEEN = '''    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    seen = [k for k in range(12) if libc.shmget(0x5EED + k, 0, 0o666) >= 0]
    assert not seen, seen
    assert open("/proc/sysvipc/shm").read().count("\\n") <= 1
''' + RIGHT


def test_sysv_shared_memory_dies_with_its_sample():
    assert _alone(P0, SHM_SEEN) == ("passed", "")
    assert _after(SHM, P0, SHM_SEEN) == ("passed", "")


KEY_ADD = '''    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    r = libc.syscall(248 if __import__("platform").machine() == "x86_64" else 217, b"user", b"evalkit-x",
                     b"secret", 6, -4)
    assert r < 0 and ctypes.get_errno() == 1, (r, ctypes.get_errno())
    return 1
'''
KEY_READ = '''    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    r = libc.syscall(249 if __import__("platform").machine() == "x86_64" else 218, b"user", b"evalkit-x",
                     None, 0)
    assert r < 0, r
''' + RIGHT


def test_the_kernel_keyring_is_refused(pool_layers):
    if not pool_layers.get("seccomp"):
        pytest.skip("no seccomp filter on this machine (x86_64 and aarch64 only)")
    assert _alone(P0, KEY_ADD)[0] == "failed"  # the attacker's own assertions held, its answer is wrong
    assert _after(KEY_ADD, P0, KEY_READ) == ("passed", "")


def test_no_working_directory_on_sys_path_and_plain_python_semantics():
    probe = "    import sys\n    assert '' not in sys.path and '.' not in sys.path\n" + RIGHT
    assert _alone(P0, probe) == ("passed", "")
    # evalkit's own `from __future__ import annotations` never reaches a sample (issue 23, point 1)
    p = HE.problems()[0]
    sol = ("def has_close_elements(numbers: Lst[float], threshold: float) -> bool:\n"
           "    return any(abs(a - b) < threshold for i, a in enumerate(numbers) for b in numbers[i + 1:])\n")
    outcome, detail = _verdicts([Job(("v", p.task_id, ""), HE.execution(p, {"solution": sol}, 3.0))])[0]
    assert outcome == "error" and "NameError" in detail, (outcome, detail)


def test_init_environment_and_expected_values_are_out_of_reach():
    probe = ('    import os\n    for path in ("/proc/1/environ", "/proc/1/mem"):\n        try:\n'
             '            open(path, "rb").read(1)\n        except OSError:\n            pass\n        else:\n'
             '            raise AssertionError(path)\n' + RIGHT)
    assert _alone(P0, probe) == ("passed", "")


@pytest.fixture(scope="module")
def pool_layers():
    with SandboxPool(SandboxConfig(), workers=1) as pool:
        return dict(pool.layers)


def test_the_layers_say_what_is_per_sample(pool_layers):
    if pool_layers["mode"] == "none":
        pytest.skip("no namespaces on this machine")
    assert pool_layers["ipc_cleared_per_sample"] is True
    assert "keyring" in pool_layers
    json.dumps(pool_layers)
    assert os.environ.get("EVALKIT_SANDBOX_CONFIG") is None
