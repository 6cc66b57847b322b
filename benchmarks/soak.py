"""The crash soak of issue 7: rounds of ``relais run`` killed at random points, counted.

Plays the scenarios of tests/soak.py (which says what each round does) against the
loopback fakes, each round from a fresh store and fresh fakes, and prints per scenario and
store: posts sent per network, duplicates, ``unknown`` with and without a request on the
wire, rows left ``sending`` or ``pending``, the time SIGTERM takes in a burst, replies
served, stored, lost and doubled. Every figure marked "!" is a defect: the run exits 1 if
there is one (issue 7 wants them all 0). tests/test_soak.py plays a few rounds of the same.

    .venv/bin/python benchmarks/soak.py [--rounds 10] [--store sqlite|postgresql ...]
        [--scenario publish|collect|two|sigterm ...] [--burst 8] [--kills 3] [--quiet 10]
        [--seed N]

PostgreSQL is the server of RELAIS_TEST_POSTGRES_URL (each round makes a database there
and drops it); ``two`` runs on PostgreSQL only. A round takes 5 to 40 s.
"""

from __future__ import annotations

import argparse
import logging
import os
import random
import signal
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # tests/ is not an installed package
    sys.path.insert(0, str(ROOT))

from benchmarks.report import revision  # noqa: E402
from tests.soak import DEFECTS, SCENARIOS, Settings, Tally, soak  # noqa: E402

STORES = ("sqlite", "postgresql")


def progress(rounds: int, began: float) -> Callable[[int, Tally], None]:
    def tell(number: int, tally: Tally) -> None:
        defects = ", ".join(f"{name} {n}" for name, n in tally.defects().items()) or "none"
        print(f"  {tally.scenario}/{tally.store} round {number}/{rounds} "
              f"({time.monotonic() - began:.0f} s): defects so far: {defects}", file=sys.stderr, flush=True)

    return tell


def table(tallies: list[Tally], stores: list[str]) -> None:
    """One block per scenario, one column per store; "!" marks a defect."""
    rows = [("scenario", "figure", *stores)]
    for scenario in dict.fromkeys(t.scenario for t in tallies):
        by_store = {t.store: t for t in tallies if t.scenario == scenario}
        names = dict.fromkeys(name for t in by_store.values() for name, _ in t.figures())
        for n, name in enumerate(names):
            cells = []
            for store in stores:
                tally = by_store.get(store)
                value = "-" if tally is None else str(tally[name])
                cells.append(value + (" !" if name in DEFECTS and value not in ("-", "0") else ""))
            rows.append((scenario if n == 0 else "", name, *cells))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for n, row in enumerate(rows):
        print("  " + "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
        if n == 0:
            print("  " + "  ".join("-" * width for width in widths))


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10, help="rounds per scenario and store")
    parser.add_argument("--store", action="append", choices=STORES,
                        help="repeatable; default: sqlite, and postgresql if RELAIS_TEST_POSTGRES_URL is set")
    parser.add_argument("--scenario", action="append", choices=list(SCENARIOS),
                        help="repeatable; default: every scenario")
    parser.add_argument("--burst", type=int, default=Settings.burst, help="posts due at once")
    parser.add_argument("--kills", type=int, default=Settings.kills, help="most SIGKILLs in a round")
    parser.add_argument("--quiet", type=float, default=Settings.quiet,
                        help="seconds with no send and no row changing after which a running bot is stuck")
    parser.add_argument("--seed", type=int, default=random.randrange(1 << 30))
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # unwind: the bots are stopped too
    logging.getLogger("aiohttp.server").setLevel(logging.CRITICAL)  # a killed bot cuts requests short
    postgres_url = os.environ.get("RELAIS_TEST_POSTGRES_URL")
    if "postgresql" in (args.store or []) and not postgres_url:
        parser.error("--store postgresql needs RELAIS_TEST_POSTGRES_URL (rounds make databases there)")
    stores = list(dict.fromkeys(args.store or (STORES if postgres_url else STORES[:1])))
    scenarios = list(dict.fromkeys(args.scenario or SCENARIOS))
    settings = Settings(burst=args.burst, kills=args.kills, quiet=args.quiet)
    print(f"soak of relais run at {revision()}, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, "
          f"{args.rounds} rounds, burst {args.burst}, seed {args.seed}\n", flush=True)
    began = time.monotonic()
    tallies: list[Tally] = []
    with tempfile.TemporaryDirectory(prefix="relais-soak-") as tmp:
        for scenario in scenarios:
            for store in stores:
                if store not in SCENARIOS[scenario].stores:
                    continue
                tallies.append(soak(scenario, store, args.rounds, Path(tmp), seed=args.seed,
                                    postgres_url=postgres_url, settings=settings,
                                    progress=progress(args.rounds, began)))
    print()
    table(tallies, stores)
    defects = [f"{t.scenario}/{t.store} {name} {n}" for t in tallies for name, n in t.defects().items()]
    rounds = sum(t["rounds"] for t in tallies)
    verdict = f"{len(defects)} defect figure(s) not 0: {'; '.join(defects)}" if defects else "no defect"
    print(f"\nsoak: {rounds} rounds in {time.monotonic() - began:.0f} s (seed {args.seed}): {verdict}")
    for tally in tallies:
        for error in tally.errors[:3]:
            print(f"\n{tally.scenario}/{tally.store} {error}")
    return 1 if defects else 0


if __name__ == "__main__":
    sys.exit(main())
