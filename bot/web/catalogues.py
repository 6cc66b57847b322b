"""The desk's gettext catalogues: ``python -m bot.web.catalogues`` extracts every message
of the templates and of ``bot/web/*.py`` into ``locale/messages.pot``, updates each
language's ``messages.po`` from it (translations kept, new ones left empty) and compiles
the ``.mo`` files the desk reads. The ``.mo`` files are committed, so neither an install
nor CI needs this step; ``tests/test_web_i18n.py`` fails when one is behind its ``.po``
or a message has no translation."""

from __future__ import annotations

import io
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po

HERE = Path(__file__).parent
LOCALES = HERE / "locale"
TRANSLATED = ("fr_CA",)
# Where a message id is given: gettext in the templates and here, N_ where one is defined,
# and the first argument of the desk's errors.
KEYWORDS = {
    "_": None,
    "gettext": None,
    "ngettext": (1, 2),
    "N_": None,
    **{
        name: None
        for name in ("DeskError", "LoginNeeded", "Forbidden", "NotFound", "Conflict", "TooManyAttempts")
    },
}
METHODS = [("templates/**.html", "jinja2.ext:babel_extract"), ("*.py", "python")]
OPTIONS = {"templates/**.html": {"extensions": "jinja2.ext.i18n", "trimmed": "false"}}


def extract() -> Catalog:
    template = Catalog(project="relais", version="desk", charset="utf-8")
    for filename, lineno, message, comments, context in extract_from_dir(
        str(HERE), METHODS, OPTIONS, KEYWORDS, strip_comment_tags=True
    ):
        template.add(message, None, [(filename, lineno)], auto_comments=comments, context=context)
    return template


def po_path(locale: str) -> Path:
    return LOCALES / locale / "LC_MESSAGES" / "messages.po"


def read(locale: str) -> Catalog:
    path = po_path(locale)
    if not path.exists():
        return Catalog(locale=locale, domain="messages", charset="utf-8")
    with path.open("rb") as f:
        return read_po(f, locale=locale, domain="messages")


def compiled(catalog: Catalog) -> bytes:
    out = io.BytesIO()
    write_mo(out, catalog, use_fuzzy=False)
    return out.getvalue()


def main() -> None:
    template = extract()
    LOCALES.mkdir(exist_ok=True)
    with (LOCALES / "messages.pot").open("wb") as f:
        write_po(f, template, omit_header=True, sort_output=True, include_lineno=False)
    for locale in TRANSLATED:
        catalog = read(locale)
        catalog.update(template, no_fuzzy_matching=True)
        po_path(locale).parent.mkdir(parents=True, exist_ok=True)
        with po_path(locale).open("wb") as f:
            write_po(
                f, catalog, omit_header=True, sort_output=True, include_lineno=False, ignore_obsolete=True
            )
        po_path(locale).with_suffix(".mo").write_bytes(compiled(read(locale)))
        missing = [m.id for m in read(locale) if m.id and not m.string]
        print(f"{locale}: {len(missing)} message(s) to translate")


if __name__ == "__main__":
    main()
