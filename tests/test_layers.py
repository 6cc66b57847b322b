"""The import direction of ``bot/`` (see ``bot/__init__.py``), checked on the source."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

BOT = Path(__file__).resolve().parent.parent / "bot"
BASE = {"bot", "bot.domain", "bot.clock", "bot.problems", "bot.ports", "bot.redact"}
# What each layer may import from bot/, by module prefix.
ALLOWED = {
    "base": BASE,
    "networks": BASE | {"bot.networks"},
    "core": BASE | {"bot.networks", "bot.core"},
    "store": BASE | {"bot.networks", "bot.core", "bot.store"},
    "services": BASE | {"bot.networks", "bot.core", "bot.store", "bot.services"},
    "adapters": BASE | {"bot.networks", "bot.core.markdown", "bot.adapters"},
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


def layer(name: str) -> str | None:
    if name in BASE:
        return "base"
    for prefix in ("networks", "core", "store", "services", "adapters"):
        if name.startswith(f"bot.{prefix}"):
            return prefix
    return None  # composition: settings, app, cli


def imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


@pytest.mark.parametrize(("name", "path"), modules(), ids=lambda v: str(v).rsplit("/", 1)[-1])
def test_imports_go_down_the_layers(name: str, path: Path) -> None:
    kind = layer(name)
    for imported in imports(path):
        library = imported.split(".")[0]
        if library in NETWORK_LIBRARIES:
            package = NETWORK_LIBRARIES[library]
            assert name == package or name.startswith(package + "."), f"{name} imports {imported}"
        if kind is None or not imported.startswith("bot"):
            continue
        allowed = ALLOWED[kind]
        assert any(imported == a or imported.startswith(a + ".") for a in allowed), (
            f"{name} ({kind}) imports {imported}"
        )


def test_the_check_sees_the_modules() -> None:
    names = {name for name, _ in modules()}
    assert {"bot.core.campaigns", "bot.adapters.console", "bot.cli", "bot.networks.telegram"} <= names
