"""A consistent copy of a live SQLite store (``relais db backup``).

Copying the file while ``relais run`` writes gives a torn copy (and leaves out what is
still in the ``-wal`` file). SQLite's online backup API copies the pages inside one read
transaction: a snapshot as of one instant, while the bot goes on writing (in WAL mode
readers and the writer do not wait for each other). The copy is written beside the target
and renamed over it once complete and checked, so a failed backup never leaves half a file
where the last good one was; it is in rollback-journal mode, one file that is restored by
copying it back (README, "Deploying").
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import tempfile
from dataclasses import dataclass
from pathlib import Path

from bot.store import sqlite_file

BUSY_TIMEOUT_S = 10.0
SIDECARS = ("-wal", "-shm", "-journal")


class BackupError(Exception):
    """The backup cannot be made; the message names the fix."""


@dataclass(frozen=True)
class Backup:
    source: Path
    target: Path
    size: int  # bytes


def backup(url: str, target: Path) -> Backup:
    """Copy the SQLite store of ``url`` to ``target`` (replaced if it is a regular file)."""
    source = sqlite_file(url)
    if source is None:
        if url.startswith("postgresql"):
            raise BackupError(
                "relais db backup copies an SQLite store; for PostgreSQL use pg_dump "
                "(pg_dump -Fc -f FILE DATABASE, README: Deploying)"
            )
        raise BackupError("the store is in memory: there is nothing to back up")
    if not source.is_file():
        raise BackupError(f"no store at {source}: set RELAIS_DATABASE_URL to the store to back up")
    target = target.expanduser().absolute()
    if target.is_dir():
        raise BackupError(f"{target} is a directory: give a file name, e.g. {target / 'relais-backup.db'}")
    if not target.parent.is_dir():
        raise BackupError(f"no directory {target.parent}: create it first, or back up elsewhere")
    if target.exists() and os.path.samefile(target, source):
        raise BackupError(f"{target} is the store itself: back up to another file")
    if target.exists() and not target.is_file():  # a device, a FIFO, a link to one: never replaced
        raise BackupError(f"{target} exists and is not a regular file: back up to a file")
    if _beside(target, source):
        raise BackupError(f"{target} belongs to the store {source}: back up to another file")
    try:
        handle, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".partial", dir=target.parent)
    except OSError as error:
        raise BackupError(f"cannot write in {target.parent} ({error.strerror}): back up elsewhere") from None
    os.close(handle)
    partial = Path(name)
    try:
        _copy(source, partial)
        partial.chmod(0o600)  # it holds replies and their authors, as the store does
        partial.replace(target)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return Backup(source, target, target.stat().st_size)


def _beside(target: Path, source: Path) -> bool:
    """Whether ``target`` is one of the store's own files (its -wal, -shm or -journal), even
    one that does not exist now: SQLite would take a file of that name for the store's."""
    store = source.resolve()
    for suffix in SIDECARS:
        sidecar = store.with_name(store.name + suffix)
        if target.resolve() == sidecar:
            return True
        if target.exists() and sidecar.exists() and os.path.samefile(target, sidecar):  # a hard link
            return True
    return False


def _copy(source: Path, target: Path) -> None:
    try:
        # mode=rw: never create a store where there was none
        origin = sqlite3.connect(f"{source.as_uri()}?mode=rw", uri=True, timeout=BUSY_TIMEOUT_S)
    except sqlite3.Error as error:
        raise BackupError(f"cannot open the store {source}: {error}") from None
    try:
        with contextlib.closing(sqlite3.connect(target)) as copy:
            try:
                origin.backup(copy)  # every page in one step: one snapshot
            except sqlite3.DatabaseError as error:
                raise BackupError(f"cannot copy {source}: {error} (is it an SQLite store?)") from None
            except OSError as error:
                raise BackupError(f"cannot write {target.parent}: {error.strerror}") from None
            copy.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
            (verdict,) = copy.execute("PRAGMA quick_check").fetchone()
            if verdict != "ok":
                raise BackupError(f"the copy of {source} does not check out ({verdict}): try again")
    except sqlite3.OperationalError as error:  # a full disk, a locked store past the timeout
        raise BackupError(f"cannot back up {source}: {error}") from None
    finally:
        origin.close()
