"""The desk's catalogues: every message translated, the committed .mo files current, and
no string of the page left out of them."""

from __future__ import annotations

from pathlib import Path

from babel.messages.mofile import read_mo

from bot.web import catalogues

TEMPLATES = Path(catalogues.HERE) / "templates"


def test_every_message_of_the_page_is_in_the_catalogue() -> None:
    extracted = {m.id for m in catalogues.extract() if m.id}
    kept = {m.id for m in catalogues.read("fr_CA") if m.id}
    assert extracted - kept == set(), "run python -m bot.web.catalogues and translate"


def test_every_message_is_translated_in_french() -> None:
    untranslated = [
        m.id
        for m in catalogues.read("fr_CA")
        if m.id and not (all(m.string) if isinstance(m.string, tuple) else m.string)
    ]
    assert untranslated == []


def test_the_compiled_catalogue_is_the_po_file() -> None:
    with catalogues.po_path("fr_CA").with_suffix(".mo").open("rb") as f:
        compiled = read_mo(f)
    source = catalogues.read("fr_CA")
    assert _pairs(compiled) == _pairs(source)


def _pairs(catalog: object) -> dict[object, object]:
    def plain(value: object) -> object:
        return tuple(value) if isinstance(value, list | tuple) else value

    return {plain(m.id): plain(m.string) for m in catalog if m.id}  # type: ignore[attr-defined]


def test_no_inline_script_or_style_and_nothing_from_another_site() -> None:
    for path in [*TEMPLATES.glob("*.html"), *(catalogues.HERE / "static").glob("*")]:
        text = path.read_text(encoding="utf-8")
        assert "<script>" not in text, path
        assert "style=" not in text, path
        assert "<style" not in text, path
        assert " on" + "click=" not in text, path
        for line in text.splitlines():
            if "src=" in line or ("href=" in line and "stylesheet" in line):
                assert "//" not in line.split("src=")[-1][:3], path
    base = (TEMPLATES / "base.html").read_text(encoding="utf-8")
    assert '<script src="/static/desk.js" defer></script>' in base
