"""The zygote: a small process that init forks once and that forks every step's process for init.

Why: fork write-protects every page of the process that forks, so each page it writes afterwards costs a fault
(and a copy while the child lives). Init runs the spec's driver, the tests, while the sample's process runs: forked
from init, every sample cost init ~1.5 ms of such faults. The zygote does nothing while the sample runs but wait
for it, and its memory stops growing at its start (init's caches of drivers and data are not in it), so the
sample's process it forks is no larger than it has to be.

The sample's process is the zygote's child: the zygote reaps it (``wait4``) and reports the status and rusage;
init watches it through a pidfd the zygote sends, and signals it through that pidfd only, so a recycled pid can
never be hit. The zygote is root in root mode (or holds init's capabilities in a user namespace), is not dumpable
and runs no code of the sample's: a sample can neither signal nor trace it, and never holds the socket.

Protocol, over a Unix stream socket pair (init holds one end, the zygote the other, nobody else either):
  init -> zygote   8-byte length, with the fds the step must see (``SCM_RIGHTS``); then a pickle of
                   (step, the fd numbers those fds take in the step, marshalled code / the compile error / None)
  zygote -> init   4-byte pid, with a pidfd of the step's process, once it is started
  zygote -> init   its ``wait4``: status, user and system CPU seconds, once it has ended
Standard library only.
"""

import gc
import marshal
import os
import pickle
import signal
import socket
import struct

from evalkit.sandbox import _linux as L
from evalkit.sandbox import child

_ENDED = struct.Struct("<idd")  # wait4 status, ru_utime, ru_stime


class ZygoteGone(RuntimeError):
    """The zygote died or broke the protocol: the worker cannot start another step."""


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        b = sock.recv(n - len(buf))
        if not b:
            raise ZygoteGone("the zygote closed its socket")
        buf += b
    return bytes(buf)


class Zygote:
    """Init's handle on its zygote: ``start`` a step's process, then ``ended`` once it is over."""

    def __init__(self, cfg: dict, layers: dict, workdir: str) -> None:
        mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        gc.collect()
        pid = os.fork()
        if pid == 0:  # the zygote
            try:
                mine.close()
                L.prctl(L.PR_SET_PDEATHSIG, signal.SIGKILL)
                null = os.open(os.devnull, os.O_RDWR)
                os.dup2(null, 0)
                os.dup2(null, 1)  # init's protocol pipes are init's alone
                keep = theirs.fileno()
                os.closerange(3, keep)
                os.closerange(keep + 1, 65536)
                gc.freeze()
                _serve(theirs, cfg, layers, workdir)
            finally:
                os._exit(0)
        theirs.close()
        self.sock, self.pid = mine, pid

    def start(self, step: dict, fds: dict[int, int], code: object) -> tuple[int, int]:
        """Fork the step's process with ``fds`` (number in the step -> init's fd); its (pid, pidfd)."""
        blob = marshal.dumps(code) if code is not None and not isinstance(code, BaseException) else code
        light = {k: v for k, v in step.items() if k not in ("python", "stdin")}  # both reach it otherwise
        payload = pickle.dumps((light, list(fds), blob), protocol=pickle.HIGHEST_PROTOCOL)
        try:
            socket.send_fds(self.sock, [struct.pack("<Q", len(payload))], list(fds.values()))
            self.sock.sendall(payload)
            msg, got, _flags, _addr = socket.recv_fds(self.sock, 4, 1)
        except OSError as e:
            raise ZygoteGone(f"the zygote is gone ({e})") from e
        if len(msg) < 4 or not got:
            for fd in got:
                os.close(fd)
            raise ZygoteGone("the zygote could not start the step")
        return struct.unpack("<i", msg)[0], got[0]

    def ended(self) -> tuple[int, float, float]:
        """The step's process's wait4: (status, user CPU s, system CPU s); blocks until it has ended."""
        try:
            return _ENDED.unpack(_recv_exact(self.sock, _ENDED.size))
        except OSError as e:
            raise ZygoteGone(f"the zygote is gone ({e})") from e


def _serve(sock: socket.socket, cfg: dict, layers: dict, workdir: str) -> None:
    while True:
        try:
            head, fds, _flags, _addr = socket.recv_fds(sock, 8, 16)
            if not head:
                return
            head += _recv_exact(sock, 8 - len(head))
            step, targets, blob = pickle.loads(_recv_exact(sock, struct.unpack("<Q", head)[0]))
        except (OSError, ZygoteGone):
            return
        code = marshal.loads(blob) if isinstance(blob, bytes) else blob
        pid = os.fork()
        if pid == 0:
            sock.close()
            child.run(step, cfg, layers, workdir, dict(zip(targets, fds)), code)
        for fd in fds:
            os.close(fd)
        del code, step, blob
        pidfd = os.pidfd_open(pid)
        try:
            socket.send_fds(sock, [struct.pack("<i", pid)], [pidfd])
        except OSError:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            return
        finally:
            os.close(pidfd)
        _, status, ru = os.wait4(pid, 0)
        try:
            sock.sendall(_ENDED.pack(status, ru.ru_utime, ru.ru_stime))
        except OSError:
            return
