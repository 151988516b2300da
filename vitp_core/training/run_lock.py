"""One run at a time per run folder.

Two ``vitp pretrain`` processes in one run folder would interleave their metrics,
overwrite each other's checkpoints and replace each other's export. A run therefore
holds ``<run_dir>/.vitp-run.lock`` while it trains: a JSON record of the process (pid,
host, start time, command). A second start in the folder stops with a message naming
that process. A lock left by a process that died (``kill -9``, a power cut) does not
block forever: on the same host, a lock whose process no longer exists (or whose pid now
belongs to a newer process) is stale and taken over, with a warning. A lock from another
host cannot be checked: the message says how to remove it once that run is gone.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import sys
import time
from pathlib import Path
from types import TracebackType
from typing import Any

__all__ = ["LOCK_FILE", "RunLock", "RunLockedError"]

log = logging.getLogger(__name__)

LOCK_FILE = ".vitp-run.lock"


class RunLockedError(RuntimeError):
    """Another live process holds the run folder."""


def _process_start(pid: int) -> float | None:
    """Start time of process ``pid`` in clock ticks since boot (Linux), else ``None``."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[-1].split()
    return float(fields[19]) if len(fields) > 19 else None  # field 22 of stat(5)


def _alive(pid: int, start: float | None) -> bool:
    """Whether process ``pid`` exists and is the one that took the lock."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by another user
    now = _process_start(pid)
    return start is None or now is None or now == start


class RunLock:
    """Hold ``run_dir/.vitp-run.lock`` for the life of a run (a context manager).

    Args:
        run_dir: The run folder (created when the lock is taken).
        command: What the holder runs, recorded in the lock.
    """

    def __init__(self, run_dir: str | os.PathLike[str], command: str | None = None) -> None:
        self.run_dir = Path(run_dir)
        self.path = self.run_dir / LOCK_FILE
        self.command = command or " ".join(["vitp", *sys.argv[1:]])
        self.held = False
        self.created_dir = False

    def _record(self) -> dict[str, Any]:
        return {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "started": time.strftime("%Y-%m-%d %H:%M:%S %z"),
            "process_start": _process_start(os.getpid()),
            "command": self.command,
        }

    def _read(self) -> dict[str, Any] | None:
        try:
            payload = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            return None
        return payload if isinstance(payload, dict) else None

    def _stale(self, holder: dict[str, Any] | None) -> bool:
        if holder is None:  # unreadable: a writer died mid-write, or being written now
            try:
                return time.time() - self.path.stat().st_mtime > 10.0
            except FileNotFoundError:
                return True
        if holder.get("host") != socket.gethostname():
            return False
        return not _alive(int(holder.get("pid", -1)), holder.get("process_start"))

    def _refusal(self, holder: dict[str, Any] | None) -> str:
        if holder is None:
            who = "another process (its lock file is being written)"
        else:
            who = (
                f"process {holder.get('pid')} on {holder.get('host')}, started "
                f"{holder.get('started')} ({holder.get('command')})"
            )
        remote = holder is not None and holder.get("host") != socket.gethostname()
        hint = (
            f"If that run is gone, delete {self.path}."
            if remote
            else "Wait for it to finish, stop it, or use another --run_dir."
        )
        return f"run folder {self.run_dir} is in use by {who}. {hint}"

    def acquire(self) -> RunLock:
        """Take the lock.

        Raises:
            RunLockedError: Naming the live process that holds it.
        """
        if not self.run_dir.exists():
            self.run_dir.mkdir(parents=True)
            self.created_dir = True
        payload = json.dumps(self._record(), indent=2) + "\n"
        for _ in range(3):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                holder = self._read()
                if not self._stale(holder):
                    raise RunLockedError(self._refusal(holder)) from None
                log.warning(
                    "taking over the stale run lock %s of %s", self.path, holder or "a dead process"
                )
                self.path.unlink(missing_ok=True)
                continue
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(payload)
            self.held = True
            return self
        raise RunLockedError(self._refusal(self._read()))

    def release(self) -> None:
        """Give the lock back (only this process's own lock is removed)."""
        if not self.held:
            return
        holder = self._read()
        if holder is not None and holder.get("pid") == os.getpid():
            self.path.unlink(missing_ok=True)
        self.held = False
        if self.created_dir:
            try:
                self.run_dir.rmdir()  # only when the run left nothing in the folder it created
            except OSError:
                pass

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()
