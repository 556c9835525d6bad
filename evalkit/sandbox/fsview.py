"""The minimal file-system view of a sample: a new root that holds only what the interpreter needs to run.

Built once per worker by ``init`` (pid 1 of the worker's pid namespace) inside the worker's private mount
namespace, the way bubblewrap and nsjail do it: a tmpfs becomes the new root and receives

  * read-only bind mounts of the interpreter's prefixes, every directory on the worker's ``sys.path`` (the
    virtualenv, the system site-packages), the system's programs and shared libraries (``/usr/bin``,
    ``/usr/lib``, ``/lib*``), the time-zone data, and the paths given with ``--sandbox-path``; each at the
    place it has on the host, with the symbolic links met on the way recreated, so every path works as written;
  * a minimal ``/etc`` written here: ``passwd`` and ``group`` stubs, ``hosts``, ``nsswitch.conf``, a copy of
    the loader cache and the time zone; no ``shadow``, no ``ssh``, no credentials;
  * ``/dev/null``, ``zero``, ``full``, ``random``, ``urandom`` and a private ``/dev/shm``;
  * a fresh ``/proc`` of the worker's pid namespace;
  * the private scratch tmpfs (the sample's cwd, ``TMPDIR`` and ``HOME``).

Then ``pivot_root`` into it and detach the old root. Everything else (``/root``, ``/home``, ``/var``, ``/run``,
``/srv``, ``/mnt``, the run directory, the caller's working directory, other scratch folders) is simply absent,
for any uid and any capability, so samples need no ``CAP_DAC_READ_SEARCH``: a venv under a 0700 home is
reachable because it is bind-mounted, not because permissions are bypassed.

This module imports only the standard library (the worker must stay light).
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field

from evalkit.sandbox import _linux as L

SYSTEM_PATHS = ("/usr/bin", "/bin", "/usr/lib", "/usr/lib64", "/usr/lib32", "/lib", "/lib64", "/lib32", "/libx32",
                "/usr/share/zoneinfo")
DEVICES = ("null", "zero", "full", "random", "urandom")
ETC_COPIED = ("ld.so.cache", "localtime", "timezone")  # contents copied (links followed) when present
_DEV_LINKS = {"fd": "/proc/self/fd", "stdin": "/proc/self/fd/0", "stdout": "/proc/self/fd/1",
              "stderr": "/proc/self/fd/2"}
_ROOT_TMPFS = "size=16m,nr_inodes=16k,mode=0755"


def _under(path: str, top: str) -> bool:
    """``path`` is ``top`` or inside it (both normalised absolute paths)."""
    return path == top or path.startswith(top.rstrip("/") + "/")


def _resolve(path: str, links: dict[str, str]) -> str | None:
    """The real path of ``path`` (None if it does not exist). Every symbolic link met on the way is added to
    ``links`` (its path -> its target), so the new root can hold the same links and ``path`` works as written."""
    real = os.path.realpath(path)
    if not os.path.exists(real):
        return None
    met: dict[str, str] = {}
    todo = [c for c in path.split("/") if c]
    cur, hops = "/", 0
    while todo:
        comp = todo.pop(0)
        if comp == ".":
            continue
        if comp == "..":
            cur = os.path.dirname(cur)
            continue
        nxt = os.path.join(cur, comp)
        if os.path.islink(nxt):
            hops += 1
            if hops > 40:
                return real
            target = os.readlink(nxt)
            met[nxt] = target
            if target.startswith("/"):
                cur = "/"
            todo = [c for c in target.split("/") if c] + todo
            continue
        cur = nxt
    if cur == real:
        links.update(met)
    return real


def _evalkit_root() -> str:
    """The folder that holds the ``evalkit`` package (a source checkout for an editable install)."""
    return os.path.dirname(os.path.dirname(os.path.dirname(os.path.realpath(__file__))))


@dataclass
class Plan:
    binds: list[str] = field(default_factory=list)  # real host paths, bound read-only at the same place
    links: dict[str, str] = field(default_factory=dict)  # symbolic links to recreate: path -> target
    left_out: list[str] = field(default_factory=list)  # wanted paths not shown, with why


def path_digest(path: str) -> str:
    return hashlib.sha256(os.path.normpath(path).encode()).hexdigest()[:32]


def cwd_digests(cwd: str) -> list[str]:
    """Digests of ``cwd`` and of every folder above it but ``/``: the worker learns which ``sys.path`` entries
    hold the harness's working directory without its path being in the environment samples can read."""
    out, p = [], os.path.normpath(cwd)
    while p != "/":
        out.append(path_digest(p))
        p = os.path.dirname(p)
    return out


def plan(scratch: str, extra: Iterable[str] = (), hidden_digests: Iterable[str] = ()) -> Plan:
    """What a sample will see: the interpreter's prefixes, ``sys.path``, the system's programs and libraries,
    and ``extra``. Never ``/``, nothing that holds the scratch folder; a ``sys.path`` entry that holds evalkit's
    own source checkout or the harness's working directory (``PYTHONPATH=.``: runs are written there) neither."""
    scratch = os.path.normpath(scratch)
    own = _evalkit_root()
    hidden = set(hidden_digests)
    wanted: list[tuple[str, str]] = [(p, "prefix") for p in (sys.prefix, sys.base_prefix, sys.exec_prefix,
                                                              sys.base_exec_prefix)]
    wanted.append((os.path.dirname(os.path.realpath(sys.executable)), "prefix"))
    wanted += [(p, "sys.path") for p in sys.path if p and os.path.isabs(p)]  # '' (the cwd) is never shown
    wanted += [(p, "system") for p in SYSTEM_PATHS]
    wanted += [(os.path.abspath(p), "extra") for p in extra]
    out = Plan()
    reals: list[str] = []
    for path, kind in wanted:
        path = os.path.normpath(path)
        links: dict[str, str] = {}
        real = _resolve(path, links)
        if real is None:
            if kind == "extra":
                out.left_out.append(f"{path} (does not exist)")
            continue
        for p in {path, real}:
            why = ""
            if p == "/" or _under(scratch, p):
                why = "it holds the whole system or the sandbox's scratch"
            elif p == "/dev" or _under(p, "/proc"):
                why = "the host's devices and processes stay hidden"
            elif kind == "sys.path" and _under(own, p) and os.path.basename(p) not in ("site-packages",
                                                                                       "dist-packages"):
                why = "evalkit's own source checkout; samples do not need it"
            elif kind == "sys.path" and path_digest(p) in hidden:
                why = "it holds the harness's working directory"
            if why:
                out.left_out.append(f"{path} ({why})")
                break
        else:
            reals.append(real)
            out.links.update(links)
    for real in sorted(set(reals)):
        if not any(_under(real, b) for b in out.binds):
            out.binds.append(real)
    return out


def _etc_files(uid: int, gid: int, home: str) -> dict[str, bytes]:
    users = {0: "root:x:0:0:root:/root:/usr/sbin/nologin", 65534: "nobody:x:65534:65534:nobody:/:/usr/sbin/nologin"}
    users.setdefault(uid, f"sandbox:x:{uid}:{gid}:sandbox:{home}:/usr/sbin/nologin")
    groups = {0: "root:x:0:", 65534: "nogroup:x:65534:"}
    groups.setdefault(gid, f"sandbox:x:{gid}:")
    files = {
        "passwd": "".join(v + "\n" for v in users.values()).encode(),
        "group": "".join(v + "\n" for v in groups.values()).encode(),
        "hosts": b"127.0.0.1 localhost\n::1 localhost\n",
        "nsswitch.conf": b"passwd: files\ngroup: files\nhosts: files\n",
    }
    for name in ETC_COPIED:
        try:
            with open(f"/etc/{name}", "rb") as f:
                files[name] = f.read(8 << 20)
        except OSError:
            pass
    return files


class _Builder:
    def __init__(self, base: str, cfg: dict, layers: dict) -> None:
        self.base = base
        self.cfg = cfg
        self.layers = layers
        self.mounts = L.mountinfo()
        self.not_readonly: list[str] = []

    def at(self, path: str) -> str:
        return self.base + path

    def mkdirs(self, path: str) -> None:
        os.makedirs(self.at(path), mode=0o755, exist_ok=True)

    def readonly(self, host: str) -> None:
        """Remount the bind of ``host`` read-only, keeping the flags of the mount it comes from (a user
        namespace may not clear them); binds of mounts made read-only earlier are already read-only."""
        best, opts = "", set()
        for mp, o in self.mounts:
            if _under(host, mp) and len(mp) >= len(best):
                best, opts = mp, o
        try:
            L.mount(None, self.at(host), None, L.MS_REMOUNT | L.MS_BIND | L.MS_RDONLY | L.mount_flags(opts))
        except OSError:
            pass
        if not os.statvfs(self.at(host)).f_flag & os.ST_RDONLY:
            self.not_readonly.append(host)

    def populate(self, p: Plan, owner: str, uid: int, gid: int) -> None:
        cfg, scratch = self.cfg, os.path.normpath(self.cfg["scratch"])
        # links and mount points first: nothing can be made under a read-only bind once it is mounted
        for link, target in sorted(p.links.items()):
            self.mkdirs(os.path.dirname(link))
            if not os.path.lexists(self.at(link)):
                os.symlink(target, self.at(link))
        for host in p.binds:
            if os.path.isdir(host):
                self.mkdirs(host)
            else:
                self.mkdirs(os.path.dirname(host))
                open(self.at(host), "a").close()
        for host in p.binds:
            L.mount(host, self.at(host), None, L.MS_BIND | L.MS_REC)
            self.readonly(host)
        self.mkdirs("/etc")
        etc = _etc_files(uid, gid, os.path.join(scratch, "sample"))
        for name, data in list(etc.items()):
            try:
                with open(self.at(f"/etc/{name}"), "wb") as f:
                    f.write(data)
            except OSError:  # --sandbox-path /etc (or a file of it) put the host's there, read-only
                del etc[name]
        self.mkdirs("/dev")
        devices = []
        for name in DEVICES:
            try:
                if not stat.S_ISCHR(os.stat(f"/dev/{name}").st_mode):
                    continue
            except OSError:
                continue
            open(self.at(f"/dev/{name}"), "a").close()
            L.mount(f"/dev/{name}", self.at(f"/dev/{name}"), None, L.MS_BIND)
            devices.append(name)
        for name, target in _DEV_LINKS.items():
            os.symlink(target, self.at(f"/dev/{name}"))
        self.mkdirs("/dev/shm")
        L.mount("tmpfs", self.at("/dev/shm"), "tmpfs", L.MS_NOSUID | L.MS_NODEV,
                f"size={cfg['scratch_mb']}m,mode=1777")
        self.mkdirs("/proc")
        self.layers["private_proc"] = False
        if self.layers["pid_namespace"]:
            try:  # must happen while the host's /proc is still mounted (a user namespace checks that)
                L.mount("proc", self.at("/proc"), "proc", L.MS_NOSUID | L.MS_NODEV | L.MS_NOEXEC)
                self.layers["private_proc"] = True
            except OSError as e:
                self.layers["notes"].append(f"no /proc for samples ({e})")
        self.mkdirs(scratch)  # the same path as on the host: unique, and no bind can sit there
        # init's: only the mount point of each sample's own working directory (see runspec.py)
        L.mount("tmpfs", self.at(scratch), "tmpfs", L.MS_NOSUID | L.MS_NODEV, f"size=1m,mode=0755{owner}")
        self.layers["private_tmp"] = True
        self.layers["fs_paths"] = list(p.binds)
        self.layers["fs_etc"] = sorted(etc)
        self.layers["fs_dev"] = devices + ["shm"]
        if p.left_out:
            self.layers["fs_left_out"] = p.left_out


class ViewError(RuntimeError):
    """The view was half built and the old root is gone: the worker cannot go on."""


def build(cfg: dict, layers: dict, owner: str, uid: int, gid: int) -> None:
    """Build the view at the scratch folder and pivot_root into it. An ``OSError`` means nothing changed (the
    caller may go on with the host's file system); after the pivot there is no way back."""
    p = plan(cfg["scratch"], cfg.get("extra_paths") or (), cfg.get("hidden_digests") or ())
    base = os.path.normpath(cfg["scratch"])
    notes = list(layers["notes"])
    old_umask = os.umask(0o022)
    try:
        L.mount("tmpfs", base, "tmpfs", L.MS_NOSUID | L.MS_NODEV, _ROOT_TMPFS)
        try:
            b = _Builder(base, cfg, layers)
            b.populate(p, owner, uid, gid)
            os.chdir(base)
            L.pivot_root(".", ".")  # the old root now sits on top of the new one, at "/"
        except BaseException:
            os.chdir("/")
            L.umount2(base, L.MNT_DETACH)
            for key in ("fs_paths", "fs_etc", "fs_dev", "fs_left_out"):
                layers.pop(key, None)
            layers["private_tmp"] = layers["private_proc"] = False
            layers["notes"] = notes
            raise
        try:
            L.umount2(".", L.MNT_DETACH)
            os.chdir("/")
            L.mount(None, "/", None, L.MS_REMOUNT | L.MS_BIND | L.MS_RDONLY | L.MS_NOSUID | L.MS_NODEV)
        except OSError as e:
            raise ViewError(f"could not finish the file-system view ({e})") from e
    finally:
        os.umask(old_umask)
    layers["fs_view"] = "minimal"
    if b.not_readonly:
        layers["readonly_root"] = False
        layers["notes"].append(f"could not make read-only: {', '.join(b.not_readonly[:5])}")


def build_in_child(cfg: dict, layers: dict, owner: str, uid: int, gid: int) -> None:
    """``build`` in a short-lived child of init. It shares init's mount and pid namespaces, so its pivot_root
    moves init too, while its garbage never lands in the heap that every sample's fork copies (built in init,
    samples took ~4% more page faults and CPU than before the view). Raises like ``build``."""
    rfd, wfd = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(rfd)
        try:
            build(cfg, layers, owner, uid, gid)
            msg: dict = {"layers": layers}
        except OSError as e:
            msg = {"layers": layers, "error": str(e)}
        except BaseException as e:
            msg = {"fatal": f"{type(e).__name__}: {e}"}
        data = json.dumps(msg).encode()
        while data:
            data = data[os.write(wfd, data):]
        os._exit(0)
    os.close(wfd)
    chunks = []
    while chunk := os.read(rfd, 1 << 16):
        chunks.append(chunk)
    os.close(rfd)
    os.waitpid(pid, 0)
    msg = json.loads(b"".join(chunks) or b'{"fatal": "the file-system builder died"}')
    if "fatal" in msg:
        raise ViewError(msg["fatal"])
    layers.clear()
    layers.update(msg["layers"])
    if "error" in msg:
        raise OSError(msg["error"])
