"""Tables that fit the terminal they are printed on, and a pager for long ones.

On a terminal, a table is fitted to its width by giving things up in the order its command
says (``Shrink`` a column of free text, ``Drop`` a column that can be spared), never by
cutting what a person needs whole: a column marked ``whole`` (a link) is never shortened,
and moves to a line of its own under its row when the row has no room for it. Piped, a
table has every column, no padding at the ends of lines and no colours, whatever the width.
Written here rather than with rich's Table, which folds links and took 12 s to lay out
10,000 rows.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import TYPE_CHECKING

import click
from rich.cells import cell_len, set_cell_size

if TYPE_CHECKING:
    from zoneinfo import ZoneInfo

GAP = "  "
WHOLE_INDENT = "    "


@dataclass(frozen=True)
class Column:
    header: str
    right: bool = False  # aligned right (numbers)
    most: int | None = None  # widest it is shown, in cells (longer text is cut with …)
    whole: bool = False  # never cut (a link): must be the last column
    style: Callable[[str], str] | None = None  # how its cells look on a terminal


@dataclass(frozen=True)
class Shrink:
    """Cut a column's text to the room the others leave it, but not below ``to`` cells."""

    header: str
    to: int


@dataclass(frozen=True)
class Drop:
    """Leave a column out."""

    header: str


Step = Shrink | Drop


def terminal_width() -> int | None:
    """The width of the terminal stdout is, or None when it is piped or redirected."""
    return shutil.get_terminal_size().columns if sys.stdout.isatty() else None


def local_time(moment: datetime, zone: ZoneInfo | None = None) -> str:
    """``2012-05-02 09:00-04:00``: a time in ``zone`` (the campaign's), with its offset."""
    return (moment.astimezone(zone) if zone else moment).isoformat(" ", "minutes")


def table(
    columns: Sequence[Column],
    rows: Sequence[Sequence[str]],
    width: int | None,
    steps: Sequence[Step] = (),
    *,
    styles: Sequence[Sequence[Callable[[str], str] | None]] | None = None,
    hide: Collection[str] = (),
) -> list[str]:
    """The header and one line per row (two when a ``whole`` cell moves under its row).

    ``width`` None (piped): every column, cut only at its ``most``. Otherwise the ``steps``
    are taken in order until the lines fit in ``width`` (a row may still be wider if they
    run out). ``styles``, per row and column, overrides the column's style on a terminal.
    ``hide`` names columns left out on a terminal whatever its width (said elsewhere).
    """
    limits = {c.header: c.most for c in columns}
    shown = list(range(len(columns)))
    whole = shown.pop() if columns and columns[-1].whole else None
    if width is not None:
        shown = [i for i in shown if columns[i].header not in hide]

    natural = {i: max([cell_len(columns[i].header), *(cell_len(row[i]) for row in rows)]) for i in shown}

    def widths() -> dict[int, int]:
        most = {i: limits[columns[i].header] for i in shown}
        return {i: natural[i] if m is None else min(natural[i], max(m, 1)) for i, m in most.items()}

    sizes = widths()
    if width is not None:
        for step in steps:
            if sum(sizes.values()) + len(GAP) * (len(sizes) - 1) <= width:
                break
            index = next((i for i in shown if columns[i].header == step.header), None)
            if index is None:
                continue
            if isinstance(step, Drop):
                shown.remove(index)
            else:
                others = sum(size for i, size in sizes.items() if i != index) + len(GAP) * len(sizes)
                limits[step.header] = max(step.to, min(sizes[index], width - others))
            sizes = widths()
    used = sum(sizes.values()) + len(GAP) * (len(sizes) - 1)

    def line(cells: Sequence[str], looks: Sequence[Callable[[str], str] | None]) -> list[str]:
        parts = []
        for position, i in enumerate(shown):
            text = cells[i]
            if cell_len(text) > sizes[i]:
                text = set_cell_size(text, sizes[i] - 1) + "…"
            look = looks[i] if width is not None else None
            shown_text = look(text) if look and text else text
            padding = " " * (sizes[i] - cell_len(text))
            if columns[i].right:
                parts.append(padding + shown_text)
            elif position == len(shown) - 1 and whole is None:
                parts.append(shown_text)
            else:
                parts.append(shown_text + padding)
        out = GAP.join(parts)
        if whole is None:
            return [out.rstrip()]
        extra = cells[whole]
        if not extra:
            return [out.rstrip()]
        if width is None or used + len(GAP) + cell_len(extra) <= width:
            return [out + GAP + extra]
        return [out.rstrip(), WHOLE_INDENT + extra]

    bold = partial(click.style, bold=True)
    # (a whole column's header is left out when it does not fit)
    lines = line([c.header for c in columns], [bold] * len(columns))[:1]
    for number, row in enumerate(rows):
        looks = styles[number] if styles is not None else [c.style for c in columns]
        lines.extend(line(row, looks))
    return lines


def show(lines: Sequence[str]) -> None:
    """Print ``lines``; on a terminal they do not fit, through a pager ($PAGER, else less,
    told to keep colours and to leave the text on the screen when it quits)."""
    text = "\n".join(lines)
    if sys.stdout.isatty() and sys.stdin.isatty() and len(lines) >= shutil.get_terminal_size().lines:
        os.environ.setdefault("LESS", "FRX")
        click.echo_via_pager(text)
    else:
        click.echo(text)
