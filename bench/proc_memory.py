"""Memory figures of a process read from Linux's ``/proc``, shared by the benchmarks."""

from __future__ import annotations

from pathlib import Path

__all__ = ["proc_bytes"]


def proc_bytes(pid: int | str, field: str, file: str = "status") -> int | None:
    """A ``kB`` field of ``/proc/<pid>/<file>`` in bytes (e.g. ``VmRSS``, ``VmHWM``, ``Pss``).

    Args:
        pid: Process id, or ``"self"``.
        field: Field name without its colon.
        file: ``status`` or ``smaps_rollup``.

    Returns:
        The value in bytes; ``None`` when the file or the field is missing or unreadable
        (the process ended, or not Linux).
    """
    try:
        text = Path(f"/proc/{pid}/{file}").read_text()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    return None
