"""The SQLite store's connection thread: one connection, one thread, group commit.

Every call becomes an operation on a queue; the thread takes everything queued, runs it in one
transaction and commits once, so many concurrent enqueues share a commit (group commit) and
reads always see the writes queued before them. The thread then hands the whole batch back to
the event loop at once: two thread switches per batch, not per call. Before each batch it checks
that the files it has open are still those at the path (`sqlite_open_files`); once they are not,
every call fails until the store is opened again.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import structlog

from bridge.errors import StoreUnavailable
from bridge.store.sqlite_mirror import Undo
from bridge.store.sqlite_open_files import OpenFiles, save_unlinked_wal

__all__ = ["ConnectionThread"]

log = structlog.get_logger("alertbridge.store")
T = TypeVar("T")


@dataclass(slots=True)
class _Operation:
    """One queued call: what to run on the connection, and its outcome once the batch is done."""

    run: Callable[[sqlite3.Connection], Any]
    writes: bool
    # Puts the mirror back should this operation fail (its write was mirrored when queued).
    undo: Undo | None = None
    # The caller's: settled on the event loop once the batch is done (None: nobody waits).
    done: asyncio.Future[Any] | None = None
    result: Any = None
    error: BaseException | None = None


class ConnectionThread:
    """Runs queued operations on one SQLite connection in its own thread, one transaction per
    batch, and hands each batch back to the event loop at once; `commits` counts transactions
    committed (for tests)."""

    def __init__(self, set_up: Callable[[sqlite3.Connection], None]) -> None:
        # Run on the new connection before any operation (schema, mirror load); its
        # sqlite3.Error or StoreUnavailable fails open().
        self._set_up = set_up
        self.commits = 0
        # Set by open(): the file (named in every StoreUnavailable) and its lock wait.
        self._path = ""
        self._busy_timeout = 0.0
        self._conn: sqlite3.Connection | None = None
        # The files the connection opened, and why they are lost once they are (then every
        # call fails: what it wrote would go to a file no longer at the path).
        self._files: OpenFiles | None = None
        self._lost: str | None = None
        self._thread: threading.Thread | None = None
        self._queue: list[_Operation] = []
        # Guards the queue and `_closing`; the thread waits on it for work.
        self._work = threading.Condition()
        self._closing = False
        self._stopped: asyncio.Future[None] | None = None  # settled once the file is closed
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def is_open(self) -> bool:
        """Open, or opening: calls may be queued."""
        return self._thread is not None

    # --- lifecycle (event loop) ---
    async def open(self, path: str, *, busy_timeout: float) -> None:
        """Start the thread and wait until it has connected to path and set the file up.

        busy_timeout: how long to wait for another process holding the file's write lock."""
        if self._thread is not None:
            return
        self._path, self._busy_timeout = path, busy_timeout
        loop = self._loop = asyncio.get_running_loop()
        connected: asyncio.Future[None] = loop.create_future()
        with self._work:
            self._closing = False
        thread = threading.Thread(
            target=self._serve, args=(connected,), name="alertbridge-sqlite", daemon=True
        )
        self._thread = thread  # set first: a second open() returns, close() can stop it
        thread.start()
        try:
            await connected
        except asyncio.CancelledError:
            if self._thread is thread:
                self._thread = None
                self._stop_serving()  # the thread ends once it has connected (or failed to)
            raise
        except BaseException:
            if self._thread is thread:  # the connection failed: the thread has ended already
                self._thread = None
            raise

    async def close(self) -> None:
        """Finish what is queued, then close the file."""
        thread, self._thread = self._thread, None
        if thread is not None:
            self._stop_serving()
        stopped = self._stopped
        if stopped is not None:  # also when another close() is already waiting for it
            await asyncio.shield(stopped)
            if self._stopped is stopped:
                self._stopped = None

    def _stop_serving(self) -> None:
        assert self._loop is not None
        self._stopped = self._loop.create_future()
        with self._work:
            self._closing = True
            self._work.notify()

    async def call(
        self, run: Callable[[sqlite3.Connection], T], *, writes: bool, undo: Undo | None
    ) -> T:
        """Queue run, then wait for the thread to have drained the queue past it.

        The caller checks `is_open` first. `undo` runs if the operation fails, before any caller
        of its batch wakes (even when this caller was cancelled meanwhile)."""
        assert self._loop is not None
        done: asyncio.Future[T] = self._loop.create_future()
        operation = _Operation(run, writes, undo, done)
        with self._work:
            self._queue.append(operation)
            self._work.notify()
        return await done

    # --- the thread ---
    def _serve(self, connected: asyncio.Future[None]) -> None:
        """Open the file, then run batches until asked to stop; then close the file."""
        try:
            self._connect()
        except BaseException as exc:  # the caller of open() gets it
            self._to_loop(_settle_one, connected, None, exc)
            if self._stopped is not None and self._closing:  # open() was cancelled meanwhile
                self._to_loop(_settle_one, self._stopped, None, None)
            return
        self._to_loop(_settle_one, connected, None, None)
        error: BaseException | None = None
        try:
            closing = False
            while not closing:
                with self._work:
                    while not self._queue and not self._closing:
                        self._work.wait()
                    batch, self._queue = self._queue, []
                    closing = self._closing
                try:
                    self._run_batch(batch)
                except Exception as exc:  # a bug, not SQLite: fail the batch, keep serving
                    for operation in batch:
                        operation.result, operation.error = None, exc
                # The mirror undos first, then the callers: they wake to the mirror restored.
                self._to_loop(_settle, batch)
        finally:
            try:
                self._disconnect()
            except sqlite3.Error as exc:
                error = self._unavailable(exc)
            if self._stopped is not None:
                self._to_loop(_settle_one, self._stopped, None, error)

    def _to_loop(self, callback: Callable[..., None], *args: Any) -> None:
        if self._loop is not None:
            with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits
                self._loop.call_soon_threadsafe(callback, *args)

    def _run_batch(self, batch: list[_Operation]) -> None:
        """Run the batch in one transaction and commit once; but fail it, unrun, once the open
        files are no longer those at the path (a restart would not find its commit)."""
        conn = self._conn
        if conn is None:
            closed = StoreUnavailable(f"sqlite store {self._path}: the store is closed")
            for operation in batch:
                operation.error = closed
            return
        if self._lost is None:
            self._lost = self._check_files(conn)
        if self._lost is not None:
            lost = StoreUnavailable(f"sqlite store {self._path}: {self._lost}")
            for operation in batch:
                operation.error = lost
            return
        self._run_transaction(conn, batch)

    def _run_transaction(self, conn: sqlite3.Connection, batch: list[_Operation]) -> None:
        writes = any(operation.writes for operation in batch)
        try:
            if writes:
                conn.execute("BEGIN IMMEDIATE")
            for operation in batch:
                _run_isolated(conn, operation, in_transaction=writes)
            if writes:
                conn.execute("COMMIT")
                self.commits += 1
        except sqlite3.Error as exc:
            _rollback_quietly(conn)
            failed = self._unavailable(exc)
            for operation in batch:
                operation.result, operation.error = None, failed
                if not operation.writes:
                    # A read need not fail with the batch's writes (the file locked by another
                    # process, a full disk): it runs again on its own, seeing what is committed.
                    operation.error = None
                    _run_isolated(conn, operation, in_transaction=False)
        for operation in batch:
            if isinstance(operation.error, sqlite3.Error):
                operation.error = self._unavailable(operation.error)

    def _connect(self) -> None:
        """Open the file in autocommit mode (batches begin and commit their own transactions),
        then set it up."""
        try:
            conn = sqlite3.connect(self._path, isolation_level=None, timeout=self._busy_timeout)
        except sqlite3.Error as exc:
            raise self._unavailable(exc) from exc
        try:
            self._set_up(conn)
            self._files = OpenFiles.of(conn, self._path)
        except (sqlite3.Error, StoreUnavailable) as exc:
            conn.close()
            if isinstance(exc, StoreUnavailable):
                raise
            raise self._unavailable(exc) from exc
        self._conn, self._lost = conn, None

    def _check_files(self, conn: sqlite3.Connection) -> str | None:
        """Why the open files are no longer those at the path (logged once), or None.

        A WAL deleted under a database file still in place is first copied into that file, so
        what was answered before the deletion survives the restart."""
        files = self._files
        if files is None:
            return None
        problem = files.database_problem()
        saved: bool | None = None
        if problem is None:
            problem = files.wal_problem()
            if problem is None:
                return None
            saved = save_unlinked_wal(conn)
        problem += "; nothing can be persisted now: restart alertbridge"
        log.critical(
            "store.file_lost", path=self._path, message=problem, wal_copied_to_database=saved
        )
        return problem

    def _disconnect(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _unavailable(self, exc: BaseException) -> StoreUnavailable:
        return StoreUnavailable(f"sqlite store {self._path}: {exc}")


def _run_isolated(conn: sqlite3.Connection, operation: _Operation, *, in_transaction: bool) -> None:
    """Run one operation so that its failure undoes only its own writes and fails only its call."""
    if in_transaction:
        conn.execute("SAVEPOINT operation")
    try:
        operation.result = operation.run(conn)
    except Exception as exc:  # the caller gets it; the rest of the batch goes on
        operation.error = exc
        if in_transaction:
            conn.execute("ROLLBACK TO operation")
    if in_transaction:
        conn.execute("RELEASE operation")


def _settle(batch: list[_Operation]) -> None:
    """Event loop: put back the mirrored writes of the failed operations (latest first), then
    give every caller still waiting its result or error."""
    for operation in reversed(batch):
        if operation.error is not None and operation.undo is not None:
            try:
                operation.undo()
            except Exception:  # the callers must still wake
                log.exception("store.mirror_undo_failed")
    for operation in batch:
        if operation.done is not None:
            _settle_one(operation.done, operation.result, operation.error)


def _settle_one(done: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if done.done():  # the caller was cancelled; the operation ran all the same
        return
    if error is not None:
        done.set_exception(error)
    else:
        done.set_result(result)


def _rollback_quietly(conn: sqlite3.Connection) -> None:
    # If ROLLBACK itself fails, SQLite has already rolled the transaction back on its own.
    if conn.in_transaction:
        with contextlib.suppress(sqlite3.Error):
            conn.execute("ROLLBACK")
