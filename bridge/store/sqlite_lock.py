"""One `alertbridge serve` per SQLite file: an exclusive lock the serving process holds for life.

A second bridge on the same file would, as it starts, put the first one's in-flight sends back to
pending (`requeue_inflight`, meant for a crash) and send them again. The lock is an `flock` on
`<store.path>.lock`, which the kernel drops when the process ends, even on SIGKILL, so a crash
never leaves it behind. Commands that change the file next to a running bridge (`outbox retry`,
`outbox drop`) and `explain` do not take it.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
from pathlib import Path

from bridge.errors import StoreUnavailable

__all__ = ["ServeLock"]


class ServeLock:
    """The serve lock of the SQLite file at `store_path`; the holder's pid is in the lock file."""

    def __init__(self, store_path: str) -> None:
        self.store_path = store_path
        # Next to the file the path resolves to, so two spellings of one path share one lock.
        self.path = Path(f"{Path(store_path).resolve()}.lock")
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock without waiting; StoreUnavailable naming the holder if another has it."""
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except FileNotFoundError:
            directory = Path(self.store_path).parent
            raise StoreUnavailable(
                f"sqlite store {self.store_path}: directory {directory} does not exist"
            ) from None
        except OSError as exc:
            raise StoreUnavailable(
                f"sqlite store {self.store_path}: cannot open its lock file {self.path}: "
                f"{exc.strerror}"
            ) from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            holder = _holder(fd)
            os.close(fd)
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
                raise StoreUnavailable(
                    f"sqlite store {self.store_path}: cannot lock {self.path}: {exc.strerror}"
                ) from exc
            pid = f" (pid {holder})" if holder else ""
            raise StoreUnavailable(
                f"{self.store_path} is in use by another alertbridge serve{pid}"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd

    def release(self) -> None:
        """Let another serve have the file (the lock file stays: removing it would race)."""
        fd, self._fd = self._fd, None
        if fd is not None:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)
            os.close(fd)


def _holder(fd: int) -> str:
    """The pid the holder wrote into the lock file ("" when not known yet)."""
    try:
        text = os.pread(fd, 32, 0).decode("ascii", errors="replace").strip()
    except OSError:
        return ""
    return text if text.isdigit() else ""
