"""Init's side of one spec: a fresh working directory, the steps one after the other, the facts, the clean-up.

Every spec gets a new tmpfs as its working directory and a new ``/dev/shm`` (mounted by init, which the sample
cannot act on: a different uid in root mode, capabilities the sample lacks in a user namespace); when the spec
ends every process of the sample is killed and both are unmounted, so nothing an earlier sample wrote or set
can exist for the next one. Without a mount namespace the directory is wiped without recursion, and a wipe that
fails ends the worker (the pool starts a new one) instead of letting the next sample in.

Facts are measured here: the exit status and rusage from ``wait4`` (the zygote's, ``zygote.py``, where it
forks the step), the wall clock, the bytes on the step's stdout and stderr pipes. Standard library only.
"""

import json
import math
import os
import random
import select
import signal
import stat
import time

from evalkit.sandbox import _linux as L
from evalkit.sandbox import child, drive, plain, zygote


class WorkerBroken(RuntimeError):
    """The worker can no longer give a sample a clean state: it must be replaced."""


def _sig_name(sig: int) -> str:
    try:
        return signal.Signals(sig).name
    except ValueError:
        return str(sig)


class _Running:
    """One started step: its pid, pipes and buffers; drains output while waiting for a reply or the exit."""

    def __init__(self, pid: int, pidfd: int, ended, out_fd: int, err_fd: int, rep_fd: int | None,  # noqa: ANN001
                 resp_fd: int | None, req_fd: int | None, limit: int, wall: float) -> None:
        self.pid, self.pidfd, self.ended, self.limit = pid, pidfd, ended, limit
        self.t0 = time.monotonic()
        self.deadline = self.t0 + wall
        self.bufs = {out_fd: bytearray(), err_fd: bytearray()}
        self.out_fd, self.err_fd, self.rep_fd, self.resp_fd, self.req_fd = out_fd, err_fd, rep_fd, resp_fd, req_fd
        self.report = bytearray()
        self.resp = bytearray()
        self.searched = 0
        self.truncated = False
        self.exited = False
        self.wall_hit = False
        self.owed: object = ()  # calls the driver sent ahead and never took the answers of
        self.poller = select.poll()
        for fd in (out_fd, err_fd, rep_fd, resp_fd, self.pidfd):
            if fd is not None:
                self.poller.register(fd, select.POLLIN)

    def _read(self, fd: int) -> None:
        try:
            b = os.read(fd, 1 << 16)
        except BlockingIOError:
            return
        if not b:
            self.poller.unregister(fd)
            return
        if fd == self.rep_fd:
            if len(self.report) < 1 << 16:
                self.report += b
        elif fd == self.resp_fd:
            if len(self.resp) <= plain.MAX_BYTES:
                self.resp += b
        else:
            buf = self.bufs[fd]
            room = self.limit - len(buf)
            if room > 0:
                buf += b[:room]
            if len(b) > room:
                self.truncated = True

    def pump(self, until: float, want_reply: bool = False) -> str:
        """Read pipes until a full reply line (``"reply"``), the exit (``"exit"``) or ``until`` (``"time"``)."""
        while True:
            if want_reply and self.resp.find(b"\n", self.searched) >= 0:
                return "reply"
            self.searched = len(self.resp)  # a long reply is searched once, not once per chunk
            if self.exited:
                return "exit"
            left = min(until, self.deadline) - time.monotonic()
            if left <= 0:
                if time.monotonic() >= self.deadline:
                    self.wall_hit = True
                return "time"
            for fd, _ev in self.poller.poll(left * 1000):
                if fd == self.pidfd:
                    self.exited = True
                    self.poller.unregister(fd)
                else:
                    self._read(fd)

    def take_reply(self) -> bytes:
        line, _, rest = bytes(self.resp).partition(b"\n")
        self.resp = bytearray(rest)
        self.searched = 0
        return line

    def finish(self, name: str) -> dict:
        """Kill what is left of the step, reap it, drain the pipes: the step's facts."""
        if not self.exited:
            try:
                signal.pidfd_send_signal(self.pidfd, signal.SIGKILL)
            except ProcessLookupError:
                pass
        try:
            status, utime, stime = self.ended()
        except zygote.ZygoteGone as e:
            raise WorkerBroken(str(e)) from e
        wall = time.monotonic() - self.t0
        for fd in (self.out_fd, self.err_fd, self.rep_fd, self.resp_fd):
            if fd is None:
                continue
            os.set_blocking(fd, False)
            try:
                for _ in range(64):
                    before = (len(self.bufs.get(fd, b"")), len(self.report), len(self.resp))
                    self._read(fd)
                    if before == (len(self.bufs.get(fd, b"")), len(self.report), len(self.resp)):
                        break
            except (OSError, KeyError):
                pass
        os.close(self.pidfd)
        for fd in (self.out_fd, self.err_fd, self.rep_fd, self.resp_fd, self.req_fd):
            if fd is not None:
                try:
                    os.close(fd)
                except OSError:
                    pass
        cpu = utime + stime
        facts = {"name": name, "ran": True, "exit_code": None, "signal": None, "limit": None,
                 "cpu_s": round(cpu, 4), "wall_s": round(wall, 4),
                 "stdout": bytes(self.bufs[self.out_fd]).decode("utf-8", "replace"),
                 "stderr": bytes(self.bufs[self.err_fd]).decode("utf-8", "replace"),
                 "truncated": self.truncated, "files": {}, "reached_end": False, "exception": None}
        if os.WIFEXITED(status):
            facts["exit_code"] = os.WEXITSTATUS(status)
        elif os.WIFSIGNALED(status):
            sig = os.WTERMSIG(status)
            facts["signal"] = _sig_name(sig)
            if sig == signal.SIGXCPU or (sig == signal.SIGKILL and cpu >= self.cpu_limit):
                facts["limit"] = "cpu"
        if self.wall_hit:
            facts["limit"] = facts["limit"] or "wall"
        for line in bytes(self.report).split(b"\n"):  # what the runner in the sample's process said
            if len(line) > 4096:
                continue
            try:
                msg = json.loads(line)
            except (ValueError, RecursionError):
                continue
            if isinstance(msg, dict):
                if msg.get("end") is True:
                    facts["reached_end"] = True
                if isinstance(msg.get("exception"), str):
                    facts["exception"] = msg["exception"][:1000]
        return facts

    cpu_limit = 1


class SpecRunner:
    """Runs specs for init: ``run(spec_dict) -> facts dict``."""

    def __init__(self, cfg: dict, layers: dict, workdir: str) -> None:
        self.cfg, self.layers, self.workdir = cfg, layers, workdir
        self.fresh_mounts = layers["mount_namespace"] and layers.get("private_tmp", False)
        self.kill_all = layers["pid_namespace"]
        # the zygote forks the steps' processes where no sample can signal it (root mode: it is root, samples
        # are not) and it can be spared when the rest is killed (this pid namespace's own /proc lists the rest);
        # elsewhere init forks them itself, and kill(-1) ends the rest
        use = layers["mode"] == "root" and (layers.get("private_proc") or not self.kill_all)
        self.zygote = zygote.Zygote(cfg, layers, workdir) if use else None
        self._drivers: dict[str, object] = {}
        self._mounted = False

    # ---- the working directory ---------------------------------------------------------------------
    def _owner(self) -> str:
        # in a user namespace the sample's uid is init's own: the default owner (an explicit uid= can be refused
        # there with EINVAL when the namespace is nested)
        uid = self.cfg["sample_uid"]
        return f",uid={uid},gid={uid}" if self.layers["mode"] == "root" else ""

    def _fresh(self) -> None:
        if self.fresh_mounts and not self._mounted:
            # the sample's own tmpfs (its size is the sample's disk) and /dev/shm, mounted by init once;
            # emptied by init after every sample (an unmount per sample costs an RCU grace period: ~2 ms)
            L.mount("tmpfs", self.workdir, "tmpfs", L.MS_NOSUID | L.MS_NODEV,
                    f"size={self.cfg['scratch_mb']}m,mode=0700{self._owner()}")
            L.mount("tmpfs", "/dev/shm", "tmpfs", L.MS_NOSUID | L.MS_NODEV | L.MS_NOEXEC,
                    f"size={self.cfg['scratch_mb']}m,mode=1777")
            self._mounted = True
        os.makedirs(self.workdir, 0o700, exist_ok=True)
        if os.listdir(self.workdir):
            raise WorkerBroken("the working directory is not empty")

    def _release(self) -> None:
        """Empty what the sample could write, as init (whose privileges no mode change of the sample's can
        stop), without recursion; anything left means the worker is replaced, never reused."""
        if self.layers.get("ipc_cleared_per_sample"):
            L.remove_sysv_ipc()
        _wipe(self.workdir)
        os.chmod(self.workdir, 0o700)
        if self._mounted:
            _wipe("/dev/shm")
            os.chmod("/dev/shm", 0o1777)

    def _place(self, files: list) -> None:
        uid = self.cfg["sample_uid"] if self.layers["mode"] == "root" else -1
        for rel, text in files:
            path = os.path.normpath(os.path.join(self.workdir, rel))
            if not path.startswith(self.workdir + os.sep):
                raise ValueError(f"file outside the working directory: {rel}")
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w", encoding="utf-8") as f:
                f.write(text)
            if uid >= 0:
                os.chown(path, uid, uid)

    def _emitted(self, names: list, limit: int) -> dict:
        out = {}
        for rel in names:
            path = os.path.normpath(os.path.join(self.workdir, rel))
            if not path.startswith(self.workdir + os.sep):
                continue
            try:
                fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
            except OSError:
                continue
            try:
                if stat.S_ISREG(os.fstat(fd).st_mode):
                    out[rel] = os.read(fd, limit).decode("utf-8", "replace")
            finally:
                os.close(fd)
        return out

    # ---- processes ---------------------------------------------------------------------------------
    def _kill_rest(self, pid: int) -> None:
        if self.kill_all and self.zygote is not None:
            self._kill_all_but_zygote()
        elif self.kill_all:
            try:
                os.kill(-1, signal.SIGKILL)
            except ProcessLookupError:
                pass
            while True:
                try:
                    os.waitpid(-1, 0)
                except ChildProcessError:
                    break
        else:
            try:
                os.killpg(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass

    def _kill_all_but_zygote(self) -> None:
        """Every process of the pid namespace but init and the zygote, killed and reaped. What a sample left
        running was orphaned to init (pid 1), so init reaps it; one forked while the list was read is found by
        the next read, and a killed process forks nothing more."""
        keep = {os.getpid(), self.zygote.pid}
        for _ in range(100000):
            rest = [int(n) for n in os.listdir("/proc") if n.isdigit() and int(n) not in keep]
            if not rest:
                return
            for p in rest:
                try:
                    os.kill(p, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            while True:
                try:
                    got, _ = os.waitpid(-1, os.WNOHANG)
                except ChildProcessError:
                    break
                if got == 0:
                    break
                if got == self.zygote.pid:
                    raise WorkerBroken("the zygote died")
            os.sched_yield()
        raise WorkerBroken("processes of a sample survived SIGKILL")

    def _start(self, step: dict, code: object) -> _Running:
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        fds = {1: out_w, 2: err_w}
        stdin = step.get("stdin") or ""
        if stdin:
            in_fd = os.memfd_create("stdin")
            data = stdin.encode()
            while data:
                data = data[os.write(in_fd, data):]
            os.lseek(in_fd, 0, os.SEEK_SET)
        else:
            in_fd = os.open(os.devnull, os.O_RDONLY)
        fds[0] = in_fd
        rep_r = req_w = resp_r = None
        parent_ends: list[int] = []
        if step.get("python") is not None:
            rep_r, rep_w = os.pipe()
            fds[child.REPORT_FD] = rep_w
            if step.get("serve"):
                req_r, req_w = os.pipe()
                resp_r, resp_w = os.pipe()
                fds[child.REQ_FD], fds[child.RESP_FD] = req_r, resp_w
        for fd in (out_r, err_r, rep_r, resp_r, req_w):
            if fd is not None:
                parent_ends.append(fd)
        wall = step.get("wall_s") or 2 * step["cpu_s"] + 2
        try:
            if self.zygote is not None:
                pid, pidfd = self.zygote.start(step, fds, code)
                ended = self.zygote.ended
            else:
                pid = os.fork()
                if pid == 0:
                    for fd in parent_ends:
                        os.close(fd)
                    child.run(step, self.cfg, self.layers, self.workdir, fds, code)
                pidfd = os.pidfd_open(pid)

                def ended() -> tuple[int, float, float]:
                    _, status, ru = os.wait4(pid, 0)
                    return status, ru.ru_utime, ru.ru_stime
        except zygote.ZygoteGone as e:
            for fd in parent_ends + list(set(fds.values())):
                os.close(fd)
            raise WorkerBroken(str(e)) from e
        for fd in set(fds.values()):
            os.close(fd)
        r = _Running(pid, pidfd, ended, out_r, err_r, rep_r, resp_r, req_w, int(step.get("output_limit") or 1 << 16),
                     wall)
        r.cpu_limit = max(1, math.ceil(step["cpu_s"]))
        return r

    # ---- a spec --------------------------------------------------------------------------------------
    def run(self, spec: dict) -> dict:
        t0 = time.monotonic()
        steps = spec["steps"]
        facts: dict = {"steps": [], "driver": None, "sandbox_error": None}
        self._fresh()
        running = None  # a started step not yet finished
        try:
            self._place(spec.get("files") or [])
            go = True
            for step in steps:
                name = step.get("name") or ""
                if not go:
                    facts["steps"].append({"name": name, "ran": False})
                    continue
                code = None
                if step.get("python") is not None:
                    try:
                        code = compile(step["python"], "<sample>", "exec", dont_inherit=True)
                    except (SyntaxError, ValueError, MemoryError, RecursionError, OverflowError) as e:
                        code = e
                running = self._start(step, code)
                driver = None
                if step.get("serve") and spec.get("driver") and not isinstance(code, BaseException):
                    driver = self._drive(spec, running)
                    os.close(running.req_fd)  # the sample's serve loop ends
                    running.req_fd = None
                    if not running.owed:  # answers still owed: the tests are over, nothing to wait for
                        running.pump(time.monotonic() + 1.0)
                else:
                    if running.req_fd is not None:  # a serving step without a driver: nothing will call it
                        os.close(running.req_fd)
                        running.req_fd = None
                    running.pump(running.deadline)
                pid = running.pid
                f, running = running.finish(name), None
                self._kill_rest(pid)
                f["files"] = self._emitted(step.get("emit") or [], int(step.get("output_limit") or 1 << 16))
                facts["steps"].append(f)
                if f["exit_code"] == 70 and f["stderr"].startswith("evalkit-sandbox-error: "):
                    # the step failed before any of the sample's code ran (a sample can only forge this into
                    # a sandbox_error, which is never a pass)
                    facts["sandbox_error"] = f["stderr"].splitlines()[0][len("evalkit-sandbox-error: "):][:300]
                if driver is not None:
                    facts["driver"] = driver
                go = (f["exit_code"] == 0 and f["limit"] is None) or bool(step.get("continue_on_failure"))
        finally:
            if running is not None:  # evalkit's own failure mid-step: end the step, or the zygote waits on it
                try:
                    running.finish("")
                    self._kill_rest(running.pid)
                except Exception as e:
                    raise WorkerBroken(f"a step could not be ended: {e}") from e
            self._release()
        facts["duration_s"] = round(time.monotonic() - t0, 4)
        return facts

    def _drive(self, spec: dict, running: _Running) -> dict:
        return drive.run_driver(self._drivers, spec, running)


def _wipe(root: str) -> None:
    """Remove everything under ``root`` without recursion (1,500 nested folders are no problem) and without
    following links; raise WorkerBroken if anything is left or cannot be removed."""
    try:
        stack, dirs = [root], []
        while stack:
            d = stack.pop()
            if d != root:
                os.chmod(d, 0o700, follow_symlinks=False)
            for n in os.listdir(d):
                p = os.path.join(d, n)
                if stat.S_ISDIR(os.lstat(p).st_mode):
                    stack.append(p)
                    dirs.append(p)
                else:
                    os.unlink(p)
        for d in reversed(dirs):
            os.rmdir(d)
        left = os.listdir(root)
    except OSError as e:
        raise WorkerBroken(f"cannot empty {root}: {e}") from e
    if left:
        raise WorkerBroken(f"{root} is not empty after the wipe")


def seed_driver_state() -> None:
    random.seed(0)
