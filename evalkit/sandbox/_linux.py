"""Thin ctypes wrappers over the Linux calls the sandbox needs (Python 3.10 has no os.unshare or mount)."""

from __future__ import annotations

import ctypes
import os

CLONE_NEWNS = 0x00020000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000

MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_REMOUNT = 32
MS_NOATIME = 1024
MS_NODIRATIME = 2048
MS_BIND = 4096
MS_REC = 16384
MS_PRIVATE = 1 << 18
MS_RELATIME = 1 << 21
MS_STRICTATIME = 1 << 24
MNT_DETACH = 2

PR_SET_PDEATHSIG = 1
PR_SET_DUMPABLE = 4
PR_SET_KEEPCAPS = 8
PR_CAPBSET_DROP = 24
PR_SET_SECUREBITS = 28
PR_SET_CHILD_SUBREAPER = 36
PR_SET_NO_NEW_PRIVS = 38
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_RAISE = 2

CAP_DAC_READ_SEARCH = 2
_LINUX_CAPABILITY_VERSION_3 = 0x20080522

_libc = ctypes.CDLL(None, use_errno=True)  # the C library the interpreter is linked with
_libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p]
_libc.unshare.argtypes = [ctypes.c_int]
_libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
_libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]
# pivot_root(2) has no libc wrapper: its syscall number (asm-generic's 41 on aarch64 and riscv64)
_SYS_PIVOT_ROOT = {"x86_64": 155, "i686": 217, "ppc64le": 203, "s390x": 217}.get(os.uname().machine, 41)


def _check(ret: int, what: str) -> None:
    if ret != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def unshare(flags: int) -> None:
    _check(_libc.unshare(flags), "unshare")


def mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    enc = lambda s: s.encode() if s is not None else None  # noqa: E731
    _check(_libc.mount(enc(source), enc(target), enc(fstype), flags, enc(data)), f"mount {target}")


def umount2(target: str, flags: int) -> None:
    _check(_libc.umount2(target.encode(), flags), f"umount {target}")


def pivot_root(new_root: str, put_old: str) -> None:
    _check(_libc.syscall(_SYS_PIVOT_ROOT, new_root.encode(), put_old.encode()), "pivot_root")


def prctl(option: int, a2: int = 0, a3: int = 0, a4: int = 0, a5: int = 0) -> None:
    _check(_libc.prctl(option, a2, a3, a4, a5), f"prctl {option}")


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]


def last_cap() -> int:
    try:
        with open("/proc/sys/kernel/cap_last_cap") as f:
            return int(f.read())
    except OSError:
        return 40


def drop_bounding_set(keep: set[int]) -> None:
    for cap in range(last_cap() + 1):
        if cap not in keep:
            try:
                prctl(PR_CAPBSET_DROP, cap)
            except OSError:
                pass


def set_caps(caps: set[int]) -> None:
    """Set effective = permitted = inheritable = ``caps`` for this thread (capset(2))."""
    mask = [0, 0]
    for c in caps:
        mask[c // 32] |= 1 << (c % 32)
    hdr = _CapHeader(_LINUX_CAPABILITY_VERSION_3, 0)
    data = (_CapData * 2)(*[_CapData(m, m, m) for m in mask])
    _check(_libc.syscall(126 if os.uname().machine == "x86_64" else 91, ctypes.byref(hdr), data), "capset")


def raise_ambient(cap: int) -> None:
    prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap)


def mountinfo() -> list[tuple[str, set[str]]]:
    """(mount point, per-mount options) of every mount this process sees, parents first."""
    out = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            parts = line.split()
            mp = parts[4].encode().decode("unicode_escape")  # \040 -> space
            out.append((mp, set(parts[5].split(","))))
    out.sort(key=lambda m: m[0].count("/") if m[0] != "/" else 0)
    return out


def mount_flags(opts: set[str]) -> int:
    flags = 0
    for name, bit in (
        ("nosuid", MS_NOSUID),
        ("nodev", MS_NODEV),
        ("noexec", MS_NOEXEC),
        ("noatime", MS_NOATIME),
        ("nodiratime", MS_NODIRATIME),
        ("relatime", MS_RELATIME),
    ):
        if name in opts:
            flags |= bit
    return flags


# ---- per-sample SysV IPC limits and the keyring filter --------------------------------------------------------
def limit_sysv_ipc(total_mb: int) -> None:
    """In a fresh IPC namespace: SysV shared memory capped at ``total_mb`` in all (RLIMIT_AS does not count a
    segment that is not attached), few segments, semaphores and queues. Best effort: a kernel that refuses
    leaves the defaults (the namespace still dies with the sample)."""
    pages = max(1, (total_mb << 20) // os.sysconf("SC_PAGE_SIZE"))
    for name, value in (("shmall", pages), ("shmmax", total_mb << 20), ("shmmni", 16), ("msgmni", 16),
                        ("sem", "32 1024 32 16")):
        try:
            with open(f"/proc/sys/kernel/{name}", "w") as f:
                f.write(str(value))
        except OSError:
            pass


PR_SET_SECCOMP = 22
SECCOMP_MODE_FILTER = 2
_SECCOMP_RET_ALLOW = 0x7FFF0000
_SECCOMP_RET_ERRNO = 0x00050000
_EPERM = 1
# (audit arch, add_key, request_key, keyctl) per machine
_KEYRING_SYSCALLS = {"x86_64": (0xC000003E, 248, 249, 250), "aarch64": (0xC00000B7, 217, 218, 219)}


class _SockFilter(ctypes.Structure):
    _fields_ = [("code", ctypes.c_uint16), ("jt", ctypes.c_uint8), ("jf", ctypes.c_uint8), ("k", ctypes.c_uint32)]


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_uint16), ("filter", ctypes.POINTER(_SockFilter))]


def seccomp_supported() -> bool:
    return os.uname().machine in _KEYRING_SYSCALLS


_FILTER: list = []  # the prebuilt program (init builds it once; a forked sample only installs it)


def prepare_keyring_filter() -> None:
    """Build the keyring filter's program now, in init, so that installing it in each sample is one call."""
    if _FILTER or not seccomp_supported():
        return
    arch, add_key, request_key, keyctl = _KEYRING_SYSCALLS[os.uname().machine]
    ld_w_abs, jeq_k, jge_k, ret_k = 0x20, 0x15, 0x35, 0x06
    deny = _SECCOMP_RET_ERRNO | _EPERM
    prog = [
        (ld_w_abs, 0, 0, 4),  # seccomp_data.arch
        (jeq_k, 1, 0, arch),
        (ret_k, 0, 0, deny),
        (ld_w_abs, 0, 0, 0),  # seccomp_data.nr
        (jge_k, 0, 1, 0x40000000),  # x32 ABI numbers
        (ret_k, 0, 0, deny),
        (jeq_k, 3, 0, add_key),
        (jeq_k, 2, 0, request_key),
        (jeq_k, 1, 0, keyctl),
        (ret_k, 0, 0, _SECCOMP_RET_ALLOW),
        (ret_k, 0, 0, deny),
    ]
    arr = (_SockFilter * len(prog))(*[_SockFilter(*ins) for ins in prog])
    fprog = _SockFprog(len(prog), arr)
    _FILTER.extend([arr, fprog, ctypes.cast(ctypes.pointer(fprog), ctypes.c_void_p).value or 0])


def deny_keyring() -> None:
    """A seccomp filter (needs no_new_privs) that answers EPERM to add_key, request_key and keyctl, and to every
    call of another ABI (x32, 32-bit compat), where the numbers differ. Inherited by every child, kept across
    exec, never removable."""
    prepare_keyring_filter()
    _check(_libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, _FILTER[2], 0, 0), "seccomp")


_NO_CAPS: list = []


def prepare_no_caps() -> None:
    if not _NO_CAPS:
        hdr = _CapHeader(_LINUX_CAPABILITY_VERSION_3, 0)
        data = (_CapData * 2)(_CapData(0, 0, 0), _CapData(0, 0, 0))
        _NO_CAPS.extend([hdr, data, ctypes.byref(hdr), 126 if os.uname().machine == "x86_64" else 91])


def drop_all_caps() -> None:
    """capset(2) with nothing effective, permitted or inheritable (prebuilt: one call in a forked sample)."""
    prepare_no_caps()
    _check(_libc.syscall(_NO_CAPS[3], _NO_CAPS[2], _NO_CAPS[1]), "capset")


def remove_sysv_ipc() -> int:
    """Remove every SysV shared-memory segment, semaphore set and message queue of this IPC namespace (init,
    after each sample: nothing of a sample's stays for the next). Returns how many were removed."""
    n = 0
    for kind, ctl in (("shm", _libc.shmctl), ("sem", _libc.semctl), ("msg", _libc.msgctl)):
        if _ipc_count(kind) == 0:  # one syscall when there is nothing (the usual case), not a /proc read
            continue
        try:
            with open(f"/proc/sysvipc/{kind}") as f:
                lines = f.read().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            parts = line.split()
            if len(parts) > 1:
                ctl(int(parts[1]), 0, 0)  # IPC_RMID (semctl's semnum 0 is ignored)
                n += 1
    return n


_IPC_INFO = {"shm": (14, 0), "sem": (19, 7), "msg": (12, 0)}  # SHM_INFO used_ids, SEM_INFO semusz, MSG_INFO msgpool


def _ipc_count(kind: str) -> int | None:
    """How many SysV objects of a kind exist in this IPC namespace (None: unknown)."""
    cmd, field = _IPC_INFO[kind]
    buf = ctypes.create_string_buffer(128)
    if kind == "sem":
        rc = _libc.semctl(0, 0, cmd, buf)
    else:
        rc = (_libc.shmctl if kind == "shm" else _libc.msgctl)(0, cmd, buf)
    if rc < 0:
        return None
    return ctypes.c_int.from_buffer(buf, 4 * field).value


def forbid_mqueues() -> None:
    """No POSIX message queue for an unprivileged process of this IPC namespace."""
    try:
        with open("/proc/sys/fs/mqueue/queues_max", "w") as f:
            f.write("0")
    except OSError:
        pass
