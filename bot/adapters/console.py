"""The console channel: prints each publication as it would appear. Needs no account."""

from __future__ import annotations

import itertools
from html.parser import HTMLParser
from typing import ClassVar

from rich.console import Console
from rich.padding import Padding
from rich.text import Text

from bot import networks
from bot.domain import Publication
from bot.networks import Flavour
from bot.ports import OnWire, Receipt


class ConsoleSender:
    def __init__(self, console: Console) -> None:
        self.console = console
        self._ids = itertools.count(1)

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def send_alert(self, chat: str | int, text: str) -> Receipt:
        self.console.print(Text(f"alert to {chat}: {text}", "red"))
        return Receipt(remote_id=f"console-{next(self._ids)}")

    async def publish(self, publication: Publication, *, on_wire: OnWire) -> Receipt:
        await on_wire()
        local = publication.local_at
        header = Text.assemble(
            (local.strftime("%Y-%m-%d %H:%M %Z"), "bold"),
            (f" ({publication.at:%H:%M} UTC)", "dim"),
            " ",
            (publication.id, "green"),
            " → ",
            (publication.channel.name, "cyan"),
            (f" ({publication.channel.network}, {publication.campaign})", "dim"),
        )
        self.console.print(header)
        if publication.warning:
            self.console.print(Padding(Text(f"CW: {publication.warning}", "yellow"), (0, 0, 0, 4)))
        flavour = networks.profile(publication.channel.network).flavour
        body = html_to_text(publication.text) if flavour is Flavour.HTML else Text(publication.text)
        self.console.print(Padding(body, (0, 0, 0, 4)))
        for media in publication.media:
            self.console.print(Padding(Text(f"[{media.path.name}: {media.alt}]", "magenta"), (0, 0, 0, 4)))
        self.console.print()
        return Receipt(remote_id=f"console-{next(self._ids)}")


def html_to_text(html: str) -> Text:
    """The HTML flavour (b, i, a) as styled terminal text; everything else stays text."""
    parser = _Html()
    parser.feed(html)
    parser.close()
    return parser.text


class _Html(HTMLParser):
    _STYLES: ClassVar[dict[str, str]] = {
        "b": "bold",
        "strong": "bold",
        "i": "italic",
        "em": "italic",
        "u": "underline",
        "s": "strike",
        "code": "bold",
        "pre": "bold",
    }

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.text = Text()
        self._styles: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            href = dict(attrs).get("href") or ""
            self._styles.append(f"underline link {href}")
        else:
            self._styles.append(self._STYLES.get(tag, ""))

    def handle_endtag(self, tag: str) -> None:
        if self._styles:
            self._styles.pop()

    def handle_data(self, data: str) -> None:
        self.text.append(data, " ".join(s for s in self._styles if s))
