"""Run files that must survive a kill: journal recovery from a torn tail and from malformed lines (a bad middle
line must not drop the records after it), atomic replacement, and the run lock (a live holder refuses, a dead or
reused pid is a stale lock). Real files and real processes; no mocks."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from evalkit.errors import UserError
from evalkit.store import LOCK, Journal, RunLock, atomic_write_text, check_lock, lock_holder, read_journal

RECORDS = [{"key": ["humaneval", "HumanEval/0", 0], "text": "    return 1\n"},
           {"key": ["humaneval", "HumanEval/1", 0], "text": "é ☺"},
           {"key": ["humaneval", "HumanEval/2", 0], "text": ""}]


def lines(records) -> bytes:
    return b"".join((json.dumps(r, ensure_ascii=False) + "\n").encode() for r in records)


def test_journal_appends_whole_lines_and_reads_them_back(tmp_path):
    j = Journal(tmp_path / "g.jsonl")
    for r in RECORDS:
        j.append(r)
    assert list(j.records()) == RECORDS  # readable before close: each record is one write
    j.close()
    j.close()  # twice is harmless
    assert (tmp_path / "g.jsonl").read_bytes() == lines(RECORDS)
    j = Journal(tmp_path / "g.jsonl")  # reopened: appends after the old records
    j.append({"n": 4})
    j.close()
    assert list(read_journal(tmp_path / "g.jsonl")) == RECORDS + [{"n": 4}]


def test_journal_files_get_the_umask_mode(tmp_path):
    old = os.umask(0o022)
    try:
        Journal(tmp_path / "a.jsonl").close()
        atomic_write_text(tmp_path / "b.json", "{}")
        os.umask(0o077)
        Journal(tmp_path / "c.jsonl").close()
        atomic_write_text(tmp_path / "d.json", "{}")
    finally:
        os.umask(old)
    modes = {p.name: p.stat().st_mode & 0o777 for p in tmp_path.iterdir()}
    assert modes == {"a.jsonl": 0o644, "b.json": 0o644, "c.jsonl": 0o600, "d.json": 0o600}


@pytest.mark.parametrize("torn", [b'{"key": ["humaneval", "Hum', b"{", b'{"n": 9}'])
def test_a_torn_tail_is_dropped_and_trimmed_on_reopen(tmp_path, torn):
    path = tmp_path / "e.jsonl"
    path.write_bytes(lines(RECORDS) + torn)  # a kill in the middle of the last write
    assert list(read_journal(path)) == RECORDS  # even a tail that parses: it never got its newline
    j = Journal(path)
    assert path.read_bytes() == lines(RECORDS)
    j.append({"n": 4})  # the next record starts on a line of its own
    j.close()
    assert list(read_journal(path)) == RECORDS + [{"n": 4}]
    assert path.read_bytes() == lines(RECORDS + [{"n": 4}])


def test_a_whole_torn_file_and_a_clean_file(tmp_path):
    path = tmp_path / "e.jsonl"
    path.write_bytes(b'{"key": ')  # torn before the first newline
    Journal(path).close()
    assert path.read_bytes() == b""
    path.write_bytes(lines(RECORDS))  # complete: reopening leaves every byte
    Journal(path).close()
    assert path.read_bytes() == lines(RECORDS)
    Journal(tmp_path / "empty.jsonl").close()
    assert (tmp_path / "empty.jsonl").read_bytes() == b""


def test_a_malformed_middle_line_does_not_drop_later_records(tmp_path):
    path = tmp_path / "x.jsonl"
    path.write_bytes(lines(RECORDS[:1]) + b'{"key": ["humaneval", "Hu\n' + b"\n" + b"not json\n"
                     + lines(RECORDS[1:]) + b'{"n":')
    assert list(read_journal(path)) == RECORDS
    j = Journal(path)
    j.append({"n": 4})
    j.close()
    assert list(read_journal(path)) == RECORDS + [{"n": 4}]


def test_a_malformed_line_with_invalid_utf8_does_not_stop_the_reader(tmp_path):
    path = tmp_path / "u.jsonl"
    path.write_bytes(lines(RECORDS[:1]) + b'{"text": "\xff\xfe"\n' + lines(RECORDS[1:]))
    assert list(read_journal(path)) == RECORDS


def test_no_journal_yet_has_no_records(tmp_path):
    assert list(read_journal(tmp_path / "missing.jsonl")) == []


def test_atomic_write_replaces_at_once_and_leaves_nothing_behind(tmp_path):
    target = tmp_path / "results.json"
    atomic_write_text(target, "old\n")
    atomic_write_text(target, "new ☺\n")
    assert target.read_text(encoding="utf-8") == "new ☺\n"
    (tmp_path / "dir.json").mkdir()  # the replace fails: the error is raised and no temporary file stays
    with pytest.raises(OSError):
        atomic_write_text(tmp_path / "dir.json", "x")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dir.json", "results.json"]


# --- the run lock -----------------------------------------------------------------------------------------------
def start_time(pid: int) -> str:
    """Field 22 of /proc/PID/stat (start time in clock ticks), read after the last ')' of the command name."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    return stat[stat.rindex(")") + 2:].split()[19]


@pytest.fixture
def other_process(tmp_path):
    """A live process that is not this one, with ') ' in its command name (as a hostile name could have)."""
    exe = tmp_path / "sl) eep"
    shutil.copy(shutil.which("sleep") or "/bin/sleep", exe)
    p = subprocess.Popen([str(exe), "60"])
    try:
        yield p.pid
    finally:
        p.kill()
        p.wait()


def dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def test_a_live_holder_refuses_a_second_process(tmp_path, other_process):
    (tmp_path / LOCK).write_text(f"{other_process} {start_time(other_process)}\n")
    assert lock_holder(tmp_path) == other_process
    with pytest.raises(UserError, match=f"in use by evalkit process {other_process}"):
        check_lock(tmp_path)
    with pytest.raises(UserError, match=str(other_process)):
        RunLock(tmp_path)
    assert (tmp_path / LOCK).read_text().split()[0] == str(other_process)  # not taken over
    # an old lock file with no start time: the live pid is trusted
    (tmp_path / LOCK).write_text(f"{other_process}\n")
    assert lock_holder(tmp_path) == other_process


def test_a_reused_pid_is_a_stale_lock(tmp_path, other_process):
    # the lock names a live pid, but that pid started at another time: another process reuses it
    (tmp_path / LOCK).write_text(f"{other_process} {int(start_time(other_process)) + 1}\n")
    assert lock_holder(tmp_path) is None
    check_lock(tmp_path)
    lock = RunLock(tmp_path)
    assert (tmp_path / LOCK).read_text() == f"{os.getpid()} {start_time(os.getpid())}\n"
    lock.release()
    assert not (tmp_path / LOCK).exists()


def test_a_dead_pid_and_garbage_are_stale_locks(tmp_path):
    for content in (f"{dead_pid()} 12345\n", f"{dead_pid()}\n", "", "garbage\n"):
        (tmp_path / LOCK).write_text(content)
        assert lock_holder(tmp_path) is None, content
        lock = RunLock(tmp_path)
        assert (tmp_path / LOCK).read_text().split()[0] == str(os.getpid())
        lock.release()
    assert lock_holder(tmp_path) is None  # no lock file


def test_this_process_holding_the_lock_is_not_another_holder(tmp_path):
    lock = RunLock(tmp_path)
    assert lock_holder(tmp_path) is None
    assert sorted(p.name for p in tmp_path.iterdir()) == [LOCK]  # the temporary link source is gone
    lock.release()


def test_release_leaves_another_process_lock(tmp_path, other_process):
    lock = RunLock(tmp_path)
    (tmp_path / LOCK).write_text(f"{other_process} {start_time(other_process)}\n")  # taken over meanwhile
    lock.release()
    assert (tmp_path / LOCK).read_text().split()[0] == str(other_process)


def test_a_second_evalkit_process_sees_the_lock(tmp_path):
    lock = RunLock(tmp_path)
    code = ("import sys; from pathlib import Path; from evalkit.store import lock_holder; "
            "print(lock_holder(Path(sys.argv[1])))")
    r = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True,
                       env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    assert r.stdout.strip() == str(os.getpid()), r.stderr
    lock.release()


def open_fds() -> set[str]:
    return set(os.listdir("/proc/self/fd"))


def test_close_releases_the_descriptor_once(tmp_path):
    before = open_fds()
    j = Journal(tmp_path / "c.jsonl")
    assert len(open_fds() - before) == 1
    j.append({"n": 1})
    j.close()
    assert not (open_fds() - before)
    spare = os.open(tmp_path / "c.jsonl", os.O_RDONLY)  # likely the number the journal had
    try:
        j.close()  # a second close must not close a descriptor that is no longer the journal's
        os.fstat(spare)
        for fd in (0, 1, 2):
            os.fstat(fd)
    finally:
        os.close(spare)


def test_release_after_the_lock_file_is_gone(tmp_path):
    lock = RunLock(tmp_path)
    (tmp_path / LOCK).unlink()
    lock.release()  # nothing to remove: no error
    assert not (tmp_path / LOCK).exists()
