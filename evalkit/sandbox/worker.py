"""The warm sandbox worker: one small interpreter that forks one process per sample.

Started by :mod:`evalkit.sandbox.pool` as a fresh ``python`` (never forked from a parent that holds a model).
It enters new namespaces once, then forks ``init`` (pid 1 of a new pid namespace). For each spec read from
stdin (``spec.py``), ``init`` mounts a fresh working directory and ``/dev/shm``, runs the steps (``runspec.py``:
each in a process forked by the zygote, ``zygote.py``, or by init itself outside root mode, that takes its limits
and an unprivileged identity in ``child.py``), runs the spec's trusted driver itself (``drive.py``), measures the
facts and writes them to stdout; then it kills every other process of its pid namespace but the zygote and
unmounts the sample's file systems, so nothing survives a sample. ``init`` itself keeps the privileges it needs
for that (root in root mode, a uid no sample has; its capabilities in a user namespace) and is not dumpable:
samples cannot signal, trace or write to it.

Layers, each on where the machine allows it (the ``ready`` line reports which):
  * root:    new mount/net/pid/ipc/uts namespaces (and an IPC namespace per sample); samples run as an
             unprivileged uid that no other process uses (so RLIMIT_NPROC holds) with no capability at all,
             under a seccomp filter that refuses the kernel keyring;
  * userns:  an unprivileged user namespace with the same namespaces, all capabilities dropped;
  * none:    rlimits and process groups only, plus the reliability guard.
In both namespace modes init builds, once, the minimal file-system view of ``fsview.py`` and pivots into it:
samples see only the interpreter, its site-packages, the system's programs and libraries, a stub /etc, a few
devices, their own /proc and a private size-limited tmpfs (their working directory, TMPDIR and HOME), all
read-only but the tmpfs and /dev/shm. Where the view cannot be built, every host mount is read-only instead
and samples keep CAP_DAC_READ_SEARCH (``fs_view: "host"``). There is no network (a new namespace with no
interface up). This module imports only the standard library.
"""

import gc
import importlib
import json
import os
import signal
import sys

from evalkit.sandbox import _linux as L

# everything init and the samples run, imported before the view hides evalkit's own files
from evalkit.sandbox import child, drive, plain, runspec, spec, zygote  # noqa: F401

_DEVNULL = "/dev/null"
# Modules benchmark programs import often, loaded once so a forked sample finds them warm. Few and light:
# every extension module loaded here makes each fork a little slower.
WARM_MODULES = ("typing", "math", "re", "collections", "itertools", "functools", "heapq", "bisect", "string",
                "hashlib", "copy", "operator")


def _log(msg: str) -> None:
    try:
        os.write(2, f"evalkit-worker: {msg}\n".encode())
    except OSError:
        pass


# ----------------------------------------------------------------------------------------------------
# set-up, in the outer worker process
# ----------------------------------------------------------------------------------------------------
def _write_file(path: str, text: str) -> None:
    with open(path, "w") as f:
        f.write(text)


def _enter_namespaces(cfg: dict) -> dict:
    layers: dict = {"mode": "none", "pid_namespace": False, "network_namespace": False,
                    "mount_namespace": False, "readonly_root": False, "user_namespace": False,
                    "unprivileged_uid": False, "private_tmp": False, "fs_view": "host", "notes": []}
    if cfg.get("isolation") == "none":
        layers["notes"].append("namespaces disabled by configuration")
        return layers
    base = L.CLONE_NEWNS | L.CLONE_NEWNET | L.CLONE_NEWPID | L.CLONE_NEWIPC | L.CLONE_NEWUTS
    uid, gid = os.getuid(), os.getgid()
    try:
        if os.geteuid() == 0:
            L.unshare(base)
            layers["mode"] = "root"
        else:
            L.unshare(base | L.CLONE_NEWUSER)
            _write_file("/proc/self/setgroups", "deny")
            _write_file("/proc/self/uid_map", f"{uid} {uid} 1")
            _write_file("/proc/self/gid_map", f"{gid} {gid} 1")
            layers["mode"] = "userns"
            layers["user_namespace"] = True
    except OSError as e:
        layers["notes"].append(f"namespaces unavailable ({e}); running with rlimits and process groups only")
        return layers
    layers["pid_namespace"] = True
    layers["network_namespace"] = True
    try:
        L.mount(None, "/", None, L.MS_REC | L.MS_PRIVATE)
        layers["mount_namespace"] = True
    except OSError as e:
        layers["notes"].append(f"mount namespace not private ({e})")
        return layers
    failed = []
    for mp, opts in L.mountinfo():
        if "ro" in opts:
            continue
        try:
            L.mount(None, mp, None, L.MS_REMOUNT | L.MS_BIND | L.MS_RDONLY | L.mount_flags(opts))
        except OSError:
            failed.append(mp)
    # mounts below /proc and /sys that refuse a read-only remount are kernel interfaces, not files
    real_failures = [m for m in failed if not m.startswith(("/proc", "/sys", "/dev/pts", "/dev/mqueue"))]
    layers["readonly_root"] = not real_failures
    if real_failures:
        layers["notes"].append(f"could not make read-only: {', '.join(real_failures[:5])}")
    return layers


def _seal_scratch(cfg: dict, layers: dict) -> None:
    """The scratch tmpfs belongs to init and holds only the mount point of each sample's working directory;
    read-only, so no sample can leave anything there or change its modes."""
    os.makedirs(os.path.join(cfg["scratch"], "sample"), 0o755, exist_ok=True)
    L.mount(None, cfg["scratch"], None, L.MS_REMOUNT | L.MS_BIND | L.MS_RDONLY | L.MS_NOSUID | L.MS_NODEV)


def _setup_files(cfg: dict, layers: dict) -> None:
    """In init (pid 1 of the new pid namespace, so /proc shows it): the minimal view when the machine allows
    it (see fsview.py), else the host's read-only file system with a private scratch tmpfs, /dev/shm, /proc."""
    if not layers["mount_namespace"]:
        return
    from evalkit.sandbox import fsview

    uid, gid = (cfg["sample_uid"], cfg["sample_uid"]) if layers["mode"] == "root" else (os.getuid(), os.getgid())
    try:
        fsview.build_in_child(cfg, layers, "", uid, gid)
        _seal_scratch(cfg, layers)
        return
    except OSError as e:
        layers["notes"].append(f"no minimal file-system view ({e}); samples see the host's, read-only")
    try:
        L.mount("tmpfs", cfg["scratch"], "tmpfs", L.MS_NOSUID | L.MS_NODEV, "size=1m,mode=0755")
        _seal_scratch(cfg, layers)
        layers["private_tmp"] = True
    except OSError as e:
        layers["notes"].append(f"no private tmpfs ({e})")
    try:
        L.mount("tmpfs", "/dev/shm", "tmpfs", L.MS_NOSUID | L.MS_NODEV,
                f"size={cfg['scratch_mb']}m,mode=1777")
    except OSError:
        pass
    if layers["pid_namespace"]:
        try:
            L.mount("proc", "/proc", "proc", L.MS_NOSUID | L.MS_NODEV | L.MS_NOEXEC)
            layers["private_proc"] = True
        except OSError:
            layers["private_proc"] = False


def _init_privileges(cfg: dict, layers: dict) -> None:
    """init keeps what it needs to mount each sample's file systems and to hand samples their identity; it is
    not dumpable (no ptrace, no /proc/1/mem by a sample) and gains nothing through exec."""
    if layers["mode"] == "root":
        layers["unprivileged_uid"] = True  # samples: cfg["sample_uid"] (child.py)
    elif layers["mode"] == "userns":
        layers["unprivileged_uid"] = os.getuid() != 0
    L.prctl(L.PR_SET_NO_NEW_PRIVS, 1)
    L.prctl(L.PR_SET_DUMPABLE, 0)


class Init:
    def __init__(self, cfg: dict, layers: dict) -> None:
        self.cfg = cfg
        self.layers = layers
        self.workdir = os.path.join(cfg["scratch"], "sample")
        os.environ["TMPDIR"] = os.environ["HOME"] = self.workdir
        self.runner = runspec.SpecRunner(cfg, layers, self.workdir)

    def serve(self) -> None:
        out = os.dup(1)
        null = os.open(_DEVNULL, os.O_RDWR)
        os.dup2(null, 1)  # a stray print in the harness never corrupts the protocol
        inp = os.fdopen(0, "rb", buffering=0)
        ready = {"ready": True, "layers": self.layers, "pid": os.getpid(), "uid": os.getuid(),
                 "sample_uid": self.cfg["sample_uid"] if self.layers["mode"] == "root" else os.getuid()}
        os.write(out, (json.dumps(ready) + "\n").encode())
        buf = b""
        while True:
            while b"\n" not in buf:
                chunk = inp.read(1 << 20)
                if not chunk:
                    return
                buf += chunk
            line, buf = buf.split(b"\n", 1)
            if not line.strip():
                continue
            req = json.loads(line)
            broken = None
            try:
                facts = self.runner.run(req["spec"])
            except runspec.WorkerBroken as e:
                broken = str(e)
                facts = {"steps": [], "driver": None, "sandbox_error": f"worker replaced: {e}", "duration_s": 0.0}
            except Exception as e:  # never die on one sample: report the harness's fault
                facts = {"steps": [], "driver": None, "sandbox_error": f"{type(e).__name__}: {e}",
                         "duration_s": 0.0}
            data = (json.dumps({"id": req.get("id"), "facts": facts}) + "\n").encode()
            while data:
                data = data[os.write(out, data):]
            if broken is not None:
                _log(f"cannot give the next sample a clean state ({broken}); exiting")
                os._exit(3)


def _init_main(cfg: dict, layers: dict) -> None:
    _setup_files(cfg, layers)
    if not layers["pid_namespace"]:
        try:
            L.prctl(L.PR_SET_CHILD_SUBREAPER, 1)
        except OSError:
            pass
    try:
        _init_privileges(cfg, layers)
    except OSError as e:
        layers["notes"].append(f"could not set init's privileges ({e})")
    _ipc_and_seccomp(cfg, layers)
    # RLIMIT_NPROC counts per uid (per user namespace); root in the initial namespace is exempt from it
    sample_uid = cfg["sample_uid"] if layers["mode"] == "root" else os.getuid()
    cfg["nproc_effective"] = sample_uid != 0 and (layers["unprivileged_uid"] or layers["user_namespace"])
    layers["fork_limit"] = cfg["nproc_effective"]
    guard = cfg.get("guard", "auto")
    cfg["guard_effective"] = guard == "on" or (guard == "auto" and not layers["network_namespace"])
    layers["reliability_guard"] = cfg["guard_effective"]
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_DFL)
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)  # a sample that closes its pipes gives init EPIPE, not death
    gc.collect()
    gc.freeze()
    Init(cfg, layers).serve()


def _ipc_and_seccomp(cfg: dict, layers: dict) -> None:
    """SysV IPC: the worker has its own IPC namespace, capped once here; init removes every object after each
    sample (``runspec``) and no unprivileged process may make a POSIX message queue. The keyring filter is
    checked once here, in a throw-away child, and built (like the empty capability set) for the samples."""
    layers["ipc_cleared_per_sample"] = layers["mode"] in ("root", "userns")
    if layers["ipc_cleared_per_sample"]:
        L.limit_sysv_ipc(cfg["scratch_mb"])
        L.forbid_mqueues()
    L.prepare_no_caps()
    layers["seccomp"] = L.seccomp_supported()
    if layers["seccomp"]:
        L.prepare_keyring_filter()
        pid = os.fork()
        if pid == 0:
            try:
                L.prctl(L.PR_SET_NO_NEW_PRIVS, 1)
                L.deny_keyring()
                os._exit(0)
            except BaseException:
                os._exit(1)
        _, status = os.waitpid(pid, 0)
        layers["seccomp"] = os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
    layers["keyring"] = "refused (seccomp)" if layers["seccomp"] else "shared by the worker's samples"
    # init itself uses no key and no other ABI: under the same filter and no_new_privs, it hands both to every
    # sample by fork, so a sample's process does not set them up again
    try:
        if layers["seccomp"] and L.prctl_get(L.PR_GET_NO_NEW_PRIVS) == 1:
            L.deny_keyring()
            cfg["init_confined"] = True
    except OSError as e:
        layers["notes"].append(f"init could not take the keyring filter itself ({e})")
    cfg["no_inheritable_caps"] = _inheritable_caps() == 0


def _inheritable_caps() -> int | None:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("CapInh:"):
                    return int(line.split()[1], 16)
    except (OSError, ValueError):
        pass
    return None


def main() -> None:
    sys.path[:] = [p for p in sys.path if p not in ("", ".")]  # nothing is imported from a working directory
    cfg = json.loads(os.environ.pop("EVALKIT_SANDBOX_CONFIG"))
    if cfg.get("cpu") is not None:
        try:
            os.sched_setaffinity(0, {cfg["cpu"]})
        except OSError:
            pass
    for name in WARM_MODULES:
        importlib.import_module(name)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        L.prctl(L.PR_SET_PDEATHSIG, signal.SIGKILL)
    except OSError:
        pass
    layers = _enter_namespaces(cfg)
    if not layers["pid_namespace"]:
        _init_main(cfg, layers)
        return
    pid = os.fork()
    if pid == 0:
        try:
            L.prctl(L.PR_SET_PDEATHSIG, signal.SIGKILL)
            _init_main(cfg, layers)
        except BaseException as e:
            _log(f"init failed: {type(e).__name__}: {e}")
            os._exit(1)
        os._exit(0)
    os.close(0)
    _, status = os.waitpid(pid, 0)
    os._exit(os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) else 1)


if __name__ == "__main__":
    main()
