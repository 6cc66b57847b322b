"""The import direction of ``bot/`` (see ``bot/__init__.py``), checked on the source.

Every module of ``bot/`` has a layer, and each layer may import only the modules listed
for it. An import is read as what it imports: ``from bot import app`` is ``bot.app``, and
``from ..services import publisher`` is resolved against the module's package. Each rule
has a probe below: a module text fed to the checker that breaks it, which must be caught.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

BOT = Path(__file__).resolve().parent.parent / "bot"
BASE = {"bot.domain", "bot.clock", "bot.problems", "bot.findings", "bot.ports", "bot.redact"}
LOWER = BASE | {"bot.networks", "bot.core", "bot.store", "bot.services"}
# What each layer may import from bot/, by module prefix ("bot" alone: the package's own
# ``__init__``, e.g. ``__version__``, never a module through it).
ALLOWED = {
    "base": BASE | {"bot"},
    "networks": BASE | {"bot", "bot.networks"},
    "core": BASE | {"bot", "bot.networks", "bot.core"},
    "store": BASE | {"bot", "bot.networks", "bot.core", "bot.store"},
    "services": LOWER | {"bot"},
    "adapters": BASE | {"bot", "bot.networks", "bot.core.markdown", "bot.adapters"},
    # composition: settings and logs under the rest, then the app, the faces, the entry point
    "settings": BASE | {"bot", "bot.networks", "bot.store", "bot.settings"},
    "logs": BASE | {"bot", "bot.networks", "bot.logs"},
    "app": LOWER | {"bot", "bot.adapters", "bot.settings", "bot.logs", "bot.wiring", "bot.app"},
    "web": LOWER | {"bot", "bot.settings", "bot.logs", "bot.wiring", "bot.app", "bot.web"},
    "cli": LOWER | {"bot", "bot.settings", "bot.logs", "bot.wiring", "bot.app", "bot.web", "bot.cli"},
    "main": {"bot.cli"},
}
LAYERS = {  # module prefix -> layer; the first that matches
    **dict.fromkeys(BASE | {"bot"}, "base"),
    "bot.networks": "networks",
    "bot.core": "core",
    "bot.store": "store",
    "bot.services": "services",
    "bot.adapters": "adapters",
    "bot.settings": "settings",
    "bot.logs": "logs",
    "bot.wiring": "app",
    "bot.app": "app",
    "bot.web": "web",
    "bot.cli": "cli",
    "bot.__main__": "main",
}
# Each network library is imported by its adapter package alone.
NETWORK_LIBRARIES = {"telegram": "bot.adapters.telegram", "mastodon": "bot.adapters.mastodon"}


def modules() -> list[tuple[str, Path]]:
    found = []
    for path in sorted(BOT.rglob("*.py")):
        parts = path.relative_to(BOT.parent).with_suffix("").parts
        name = ".".join(p for p in parts if p != "__init__")
        if "migrations" not in parts:
            found.append((name, path))
    return found


KNOWN = {name for name, _ in modules()}


def within(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def layer(name: str) -> str | None:
    if name == "bot":
        return "base"
    return next((kind for prefix, kind in LAYERS.items() if prefix != "bot" and within(name, prefix)), None)


def imports(name: str, source: str, *, package: bool = False) -> set[str]:
    """What module ``name`` (a package's ``__init__`` if ``package``) imports: each
    ``from X import n`` as ``X.n`` when that is a module of bot/, relative imports resolved."""
    names = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level:
                parts = name.split(".") if package else name.split(".")[:-1]
                base = parts[: len(parts) - (node.level - 1)]
                module = ".".join([*base, module] if module else base)
            for alias in node.names:
                names.add(f"{module}.{alias.name}" if f"{module}.{alias.name}" in KNOWN else module)
    return names


def violations(name: str, source: str, *, package: bool = False) -> list[str]:
    """Each import of module ``name`` that breaks a rule, said."""
    kind = layer(name)
    if kind is None:
        return [f"{name} is in no layer: add it to LAYERS (and bot/__init__.py)"]
    found = []
    for imported in sorted(imports(name, source, package=package)):
        library = imported.split(".")[0]
        if library in NETWORK_LIBRARIES and not within(name, NETWORK_LIBRARIES[library]):
            found.append(f"{name} imports {imported}: only {NETWORK_LIBRARIES[library]} may")
        if library == "bot" and not any(
            imported == a if a == "bot" else within(imported, a) for a in ALLOWED[kind]
        ):
            found.append(f"{name} ({kind}) imports {imported}")
    return found


@pytest.mark.parametrize(("name", "path"), modules(), ids=lambda v: str(v).rsplit("/", 1)[-1])
def test_imports_go_down_the_layers(name: str, path: Path) -> None:
    source = path.read_text(encoding="utf-8")
    assert violations(name, source, package=path.name == "__init__.py") == []


def test_the_check_sees_the_modules() -> None:
    assert {
        "bot.core.campaigns",
        "bot.adapters.console",
        "bot.cli",
        "bot.cli.common",
        "bot.networks.telegram",
        "bot.settings",
        "bot.logs",
        "bot.app",
        "bot.__main__",
    } <= KNOWN


# -- probes: each rule, broken on purpose, is caught ----------------------------------------


@pytest.mark.parametrize(
    ("name", "source"),
    [
        ("bot.core.probe", "from bot import app"),  # a composition module through the package
        ("bot.core.probe", "import bot.services.publisher"),  # a layer above
        ("bot.domain", "from bot.networks import profile"),  # the base imports nothing above it
        ("bot.networks.probe", "from bot.core import markdown"),
        ("bot.store.probe", "from bot.services.moderation import after_edit"),
        ("bot.services.probe", "from bot.adapters.telegram import sender"),  # the other side
        ("bot.adapters.telegram.probe", "from bot.store.ledger import Ledger"),
        ("bot.adapters.mastodon.probe", "from bot.services import collector"),
    ],
)
def test_an_import_up_the_layers_is_caught(name: str, source: str) -> None:
    assert violations(name, source) != []


@pytest.mark.parametrize(
    ("name", "source", "package"),
    [
        ("bot.core.probe", "from .. import app", False),
        ("bot.core.probe", "from ..services import publisher", False),
        ("bot.core.probe", "from ..services.publisher import Publisher", False),
        ("bot.store", "from ..adapters import console", True),  # a package's __init__
        ("bot.adapters.telegram.probe", "from ...store import ledger", False),
    ],
)
def test_a_relative_import_up_the_layers_is_caught(name: str, source: str, package: bool) -> None:
    assert violations(name, source, package=package) != []


@pytest.mark.parametrize(
    ("name", "source"),
    [
        ("bot.settings", "from bot.services import export"),
        ("bot.settings", "from bot import app"),
        ("bot.logs", "from bot.store import database"),
        ("bot.app", "from bot.cli import common"),
        ("bot.cli.probe", "from bot.adapters import console"),  # the CLI goes through bot.app
        ("bot.web.probe", "from bot.cli.common import fail"),  # the faces are side by side
        ("bot.web.probe", "from bot.adapters.telegram import sender"),
        ("bot.__main__", "from bot.app import run"),
    ],
)
def test_a_composition_module_importing_out_of_its_place_is_caught(name: str, source: str) -> None:
    assert violations(name, source) != []


@pytest.mark.parametrize(
    ("name", "source"),
    [
        ("bot.services.probe", "import telegram"),
        ("bot.app", "from mastodon import Mastodon"),
        ("bot.adapters.mastodon.probe", "from telegram.error import TimedOut"),  # another network's
    ],
)
def test_a_network_library_outside_its_adapter_is_caught(name: str, source: str) -> None:
    assert violations(name, source) != []


def test_a_module_in_no_layer_is_caught() -> None:
    assert violations("bot.somewhere", "") != []


def test_imports_down_the_layers_pass() -> None:
    """The probes fail for the rule they break, not for any import."""
    assert violations("bot.core.probe", "from bot import __version__\nfrom bot.domain import Channel") == []
    assert violations("bot.core.probe", "from . import markdown\nfrom .templates import Templates") == []
    assert violations("bot.adapters.telegram.probe", "import telegram\nfrom .. import console") == []
    assert violations("bot.cli.probe", "from bot import app\nfrom ..store import database") == []
    assert violations("bot.web.probe", "from bot.services.moderation import ModerationService") == []


# -- each network is named in its own home only ----------------------------------------------

# A network's home: its profile (``bot.networks.<name>``, with its ``<name>_*`` modules) and its
# adapter package (``bot.adapters.<name>``). Elsewhere, code asks the registry. Code is what
# runs: names and strings; a docstring or a comment may take a network as an example.
NAMED_ELSEWHERE = {  # module -> why it may name networks
    "bot.networks": "the registration lines",
    "bot.core.schema_errors": "the example channel in validation messages (sample data)",
    "bot.web.demo": "the demo's sample replies",
    "bot.web.exports": "the desk's two messages about Mastodon's lookups (catalogue msgids)",
}


def home(name: str) -> str | None:
    """The network whose home module ``name`` is, if any."""
    parts = name.split(".")
    if len(parts) == 3 and parts[1] == "networks":
        return parts[2].split("_")[0]
    if len(parts) >= 3 and parts[1] == "adapters":
        return parts[2]
    return None


def _docstrings(tree: ast.AST) -> set[int]:
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            first = node.body[0] if node.body else None
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                found.add(id(first.value))
    return found


def _code_words(source: str) -> Iterator[tuple[int, str]]:
    """Each name and string of ``source`` (docstrings left out), with its line."""
    tree = ast.parse(source)
    docstrings = _docstrings(tree)
    for node in ast.walk(tree):
        line = getattr(node, "lineno", 0)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
            yield line, node.value
        elif isinstance(node, ast.Name):
            yield line, node.id
        elif isinstance(node, ast.Attribute):
            yield line, node.attr
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            yield line, node.name
        elif isinstance(node, ast.arg):
            yield line, node.arg
        elif isinstance(node, ast.alias):
            yield line, f"{node.name} {node.asname or ''}"
        elif isinstance(node, ast.ImportFrom):
            yield line, node.module or ""


def network_mentions(name: str, source: str, networks: tuple[str, ...]) -> list[str]:
    """Each place where module ``name``'s code names a network other than its own home's."""
    own = home(name)
    others = [n for n in networks if n != own]
    if not others:
        return []
    pattern = re.compile("|".join(map(re.escape, others)), re.IGNORECASE)
    return sorted(
        {f"{name}:{line}: {word[:70]!r}" for line, word in _code_words(source) if pattern.search(word)}
    )


def registered_networks() -> tuple[str, ...]:
    from bot import networks

    return networks.names()


def test_a_network_is_named_in_its_own_home_only() -> None:
    names = registered_networks()
    found = []
    for name, path in modules():
        if name not in NAMED_ELSEWHERE:
            found += network_mentions(name, path.read_text(encoding="utf-8"), names)
    assert found == []


def test_each_module_allowed_to_name_a_network_still_does() -> None:
    """The allow-list shrinks as what it excuses goes."""
    names = registered_networks()
    sources = dict(modules())
    assert [m for m in NAMED_ELSEWHERE if not network_mentions(m, sources[m].read_text("utf-8"), names)] == []


@pytest.mark.parametrize(
    ("name", "source"),
    [
        ("bot.services.probe", 'if channel.network == "telegram": pass'),
        ("bot.app", "from bot.networks.mastodon import status_id"),
        ("bot.services.probe", "def check_mastodon(): pass"),
        ("bot.services.probe", "source: MastodonSource"),
        ("bot.web.probe", 'message = f"the {n} Mastodon replies"'),
        ("bot.adapters.telegram.probe", "from bot.networks.mastodon import status_id"),  # another's home
        ("bot.networks.telegram_check", 'MASTODON = "mastodon"'),
    ],
)
def test_a_network_named_outside_its_home_is_caught(name: str, source: str) -> None:
    assert network_mentions(name, source, ("telegram", "mastodon")) != []


def test_a_network_named_in_its_home_or_in_prose_passes() -> None:
    names = ("telegram", "mastodon")
    assert network_mentions("bot.adapters.telegram.reader", 'import telegram\nNAME = "telegram"', names) == []
    assert network_mentions("bot.networks.mastodon_check", "def check_mastodon(): pass", names) == []
    prose = '"""Telegram, for example."""\n# and Mastodon\ndef f():\n    """As Mastodon does."""\n'
    assert network_mentions("bot.services.probe", prose, names) == []
