"""``relais check`` of the store: where it is, whether it opens, is migrated and can be
written. Each network's checks are its profile's (``bot.networks.Profile.check``), run by
composition (``bot.app.network_checks``)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from bot.findings import Finding, Level


def check_store(url: str) -> list[Finding]:
    """Where the store is, whether it opens, is migrated, and can be written."""
    from bot.store import database, location, missing_file, sqlite_file

    where = location(url)
    path = sqlite_file(url)
    found = [Finding(Level.OK, "store", f"the store is {where}" + (" (SQLite)" if path else ""))]
    if missing_file(url):
        assert path is not None
        parent = next((p for p in path.parents if p.exists()), None)
        if parent is not None and not os.access(parent, os.W_OK):
            return [
                *found,
                Finding(
                    Level.ERROR,
                    "store",
                    f"no store yet at {where}, and {parent} cannot be written: relais run cannot create it",
                    f"give the user that runs relais write access to {parent}, or set RELAIS_STATE_DIR",
                ),
            ]
        return [
            *found,
            Finding(
                Level.WARNING,
                "store",
                f"no store yet at {where}: relais run creates it",
                "if the bot ran before, its store is elsewhere: set RELAIS_DATABASE_URL or RELAIS_STATE_DIR",
            ),
        ]
    blocked = _unwritable(path) if path is not None else None
    if path is not None and blocked is not None:
        found.append(
            Finding(
                Level.ERROR,
                "store",
                f"{blocked} cannot be written: the bot could not record what it publishes",
                f"give the user that runs relais write access to {path} and {path.parent} "
                "(SQLite writes a journal beside it), on a disk mounted read-write",
            )
        )
        return found  # SQLite cannot even read it in WAL mode: nothing more to learn
    try:
        engine = database.create(url)
    except database.StoreError as error:
        return [*found, Finding(Level.ERROR, "store", str(error), "fix RELAIS_DATABASE_URL")]
    try:
        current = database.is_current(engine)
        read_only = engine.dialect.name == "postgresql" and _postgres_read_only(engine)
    except database.StoreError as error:
        return [
            *found,
            Finding(
                Level.ERROR,
                "store",
                str(error),
                "check that the database server runs and RELAIS_DATABASE_URL",
            ),
        ]
    except Exception as error:  # the driver's: unreachable server, refused login
        said = database.store_failure(error) or type(error).__name__
        return [
            *found,
            Finding(
                Level.ERROR,
                "store",
                f"cannot open {where}: {said}",
                "check that the database server runs and RELAIS_DATABASE_URL",
            ),
        ]
    finally:
        engine.dispose()
    if read_only:
        found.append(
            Finding(
                Level.ERROR,
                "store",
                f"{where} is read-only (a standby?)",
                "point RELAIS_DATABASE_URL at the primary",
            )
        )
    if current:
        found.append(Finding(Level.OK, "store", "it opens and is migrated"))
    else:
        found.append(
            Finding(
                Level.WARNING,
                "store",
                "it is not migrated to this version of Relais",
                "relais run migrates it at start; or run relais db upgrade (back it up first)",
            )
        )
    return found


def _unwritable(path: Path) -> Path | None:
    """The SQLite file, or its directory, if it cannot be written (tried, not guessed from
    the permission bits: root ignores those, a read-only disk or an immutable file does not)."""
    try:
        with open(path, "r+b"):  # opened for writing, nothing written
            pass
    except OSError:
        return path
    try:
        handle, probe = tempfile.mkstemp(dir=path.parent, prefix=".relais-check-")
        os.close(handle)
        os.unlink(probe)
    except OSError:
        return path.parent
    return None


def _postgres_read_only(engine: object) -> bool:
    from sqlalchemy import text

    with engine.connect() as connection:  # type: ignore[attr-defined]
        return str(connection.execute(text("SHOW transaction_read_only")).scalar()) == "on"
