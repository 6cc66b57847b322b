"""Campaigns in French and English: one post written once, published in each language
(each its own exactly-once key) or as one bilingual message; channels that take one
language; hashtags per language. Checked at load, in ``relais plan``, and through a real
``relais run`` against the loopback Telegram and Mastodon servers."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.core.translations import SEPARATOR
from bot.domain import Publication
from tests.conftest import ROOT, Project
from tests.data import stamp
from tests.fakes.mastodon_api import FakeMastodon
from tests.fakes.telegram_api import FakeTelegram
from tests.harness import CHAT, MASTODON_TOKEN, Deployment

BILINGUAL = """\
campaign: essai
timezone: America/Montreal
languages: [fr-CA, en]
hashtags: [gautrinweb2]
channels:
  tg-fr: {network: telegram, chat: "@GautrinWeb2", language: fr}
  tg-en: {network: telegram, chat: "@GautrinWeb2_en", language: en}
  masto: {network: mastodon}
"""
ANNONCE_FR = "**{{ titre }}**\n\n[Lire]({{ lien }}) {{ hashtag }}\n"
ANNONCE_EN = "**{{ titre }}**\n\n[Read]({{ lien }}) {{ hashtag }}\n"
RAPPORT = """\
posts:
  - id: rapport
    at: 2030-05-02 09:00
    message: annonce
    vars:
      titre: {fr: "Le rapport est en ligne", en: "The report is online"}
      lien: "https://example.org/r"
"""


def publications(project: Project) -> dict[tuple[str, str], Publication]:
    result = project.load()
    assert result.ok, [str(p) for p in result.problems]
    return {(p.id, p.channel.name): p for c in result.campaigns for p in c.publications}


def with_templates(project: Project) -> Project:
    project.template("annonce.fr.md", ANNONCE_FR)
    project.template("annonce.en.md", ANNONCE_EN)
    return project


def test_each_language_is_its_own_publication_with_its_own_key(project: Project) -> None:
    with_templates(project).campaign(BILINGUAL + RAPPORT)
    found = publications(project)
    assert sorted(found) == [
        ("rapport.en", "masto"),
        ("rapport.en", "tg-en"),
        ("rapport.fr-CA", "masto"),
        ("rapport.fr-CA", "tg-fr"),
    ]
    assert {p.key for p in found.values()} == {
        "essai/rapport.fr-CA/tg-fr",
        "essai/rapport.fr-CA/masto",
        "essai/rapport.en/tg-en",
        "essai/rapport.en/masto",
    }
    assert found["rapport.fr-CA", "tg-fr"].text == (
        '<b>Le rapport est en ligne</b>\n\n<a href="https://example.org/r">Lire</a> #gautrinweb2'
    )
    assert (
        found["rapport.en", "masto"].text
        == "The report is online\n\nRead (https://example.org/r) #gautrinweb2"
    )
    assert {(k, p.language) for k, p in found.items()} == {
        (("rapport.fr-CA", "tg-fr"), "fr-CA"),
        (("rapport.fr-CA", "masto"), "fr-CA"),
        (("rapport.en", "tg-en"), "en"),
        (("rapport.en", "masto"), "en"),
    }
    assert all("/" not in p.id for p in found.values())


def test_together_is_one_message_in_the_declared_order(project: Project) -> None:
    project.campaign(
        BILINGUAL.replace("languages: [fr-CA, en]", "languages: [en, fr-CA]\nbilingual: together")
        + """\
posts:
  - id: merci
    at: 2030-05-25 10:00
    text: {fr: "Merci à tous ! {{ hashtag }}", en: "Thank you all! {{ hashtag }}"}
    warning: {fr: "Remerciements", en: "Thanks"}
"""
    )
    found = publications(project)
    assert sorted(found) == [("merci", "masto"), ("merci.en", "tg-en"), ("merci.fr-CA", "tg-fr")]
    together = found["merci", "masto"]
    assert together.text == "Thank you all! #gautrinweb2\n\n———\n\nMerci à tous ! #gautrinweb2"
    assert SEPARATOR == "\n\n———\n\n"
    assert together.key == "essai/merci/masto"
    assert together.language == "en"
    assert together.warning == "Thanks / Remerciements"
    assert found["merci.fr-CA", "tg-fr"].text == "Merci à tous ! #gautrinweb2"
    assert found["merci.fr-CA", "tg-fr"].warning == "Remerciements"


def test_a_livestream_s_reminders_in_each_language(project: Project) -> None:
    project.campaign(
        BILINGUAL
        + """\
livestreams:
  - id: direct
    title: {fr: "Conférence de presse", en: "Press conference"}
    starts: 2030-05-02 13:30
    ends: 2030-05-02 14:30
    where: Assemblée nationale
    remind: [1h, start]
    to: masto
    text: {fr: "{{ title }} ({{ where }}) : {{ relative }}", en: "{{ title }} ({{ where }}): {{ relative }}"}
"""
    )
    texts = {p.id: p.text for p in publications(project).values()}
    assert texts == {
        "direct.fr-CA@1h": "Conférence de presse (Assemblée nationale) : dans 1 heure",
        "direct.en@1h": "Press conference (Assemblée nationale): in 1 hour",
        "direct.fr-CA@start": "Conférence de presse (Assemblée nationale) : en direct",
        "direct.en@start": "Press conference (Assemblée nationale): live now",
    }


@pytest.mark.slow
def test_plan_lists_each_language_s_publication(project: Project) -> None:
    with_templates(project).campaign(
        BILINGUAL + RAPPORT.replace("message: annonce", "message: annonce\n    bilingual: together")
    )
    result = subprocess.run(
        [sys.executable, "-m", "bot", "plan", "--format", "json"],
        cwd=project.root,
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", "HOME": str(project.root)},
    )
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)["publications"]
    assert [(r["id"], r["channel"]) for r in rows] == [
        ("rapport", "masto"),
        ("rapport.en", "tg-en"),
        ("rapport.fr-CA", "tg-fr"),
    ]
    assert rows[0]["text"] == (
        "Le rapport est en ligne\n\nLire (https://example.org/r) #gautrinweb2"
        "\n\n———\n\nThe report is online\n\nRead (https://example.org/r) #gautrinweb2"
    )


def test_a_missing_translation_names_the_file_to_create(project: Project) -> None:
    project.template("annonce.fr.md", ANNONCE_FR)
    project.template("rappel.md", "{{ title }}")
    project.campaign(
        BILINGUAL
        + RAPPORT
        + """\
livestreams:
  - {id: direct, title: t, starts: 2030-05-02 13:30, ends: 2030-05-02 14:30, message: rappel}
"""
    )
    assert project.problems() == [
        "schedules/c.yaml:12:14: no en template for 'annonce', and this post is in fr-CA and en: "
        "create messages/annonce.en.md",
        "schedules/c.yaml:17:87: no en template for 'rappel', and this livestream is in fr-CA and en: "
        "create messages/rappel.en.md (messages/rappel.md has no language: each language needs its own)",
        "schedules/c.yaml:17:87: no fr-CA template for 'rappel', and this livestream is in fr-CA and en: "
        "create messages/rappel.fr-CA.md or messages/rappel.fr.md (messages/rappel.md has no language: "
        "each language needs its own)",
    ]


def test_a_value_missing_in_a_language_or_given_for_another(project: Project) -> None:
    with_templates(project).campaign(
        BILINGUAL
        + """\
posts:
  - id: un
    at: 2030-05-02 09:00
    message: annonce
    vars: {titre: {fr: "Le rapport", eng: "The report"}, lien: "https://example.org"}
  - id: deux
    at: 2030-05-02 09:00
    text: "Le même texte"
  - id: trois
    at: 2030-05-02 09:00
    text: {fr-CA: "Bonjour"}
    media: [{file: x.png, alt: {fr: "Une image", es: "Una imagen"}}]
"""
    )
    assert project.problems() == [
        "schedules/c.yaml:13:19: 'titre' has no en version; add en: … under titre",
        "schedules/c.yaml:13:38: 'eng' is not a language of this post (fr-CA and en); did you mean en?",
        "schedules/c.yaml:16:11: this post is in fr-CA and en: give its text in each, like "
        "text: {fr-CA: …, en: …}",
        "schedules/c.yaml:19:11: 'text' has no en version; add en: … under text",
        "schedules/c.yaml:20:32: 'alt' has no en version; add en: … under alt",
        "schedules/c.yaml:20:50: 'es' is not a language of this post (fr-CA and en); "
        "write alt: {fr-CA: …, en: …}",
    ]


def test_a_problem_in_one_language_s_value_is_shown_where_it_is_written(project: Project) -> None:
    project.campaign(
        BILINGUAL
        + """\
livestreams:
  - id: direct
    title: {fr: "Conférence", en: ""}
    starts: 2030-05-02 13:30
    ends: 2030-05-02 14:30
    text: {fr: "a", en: "b"}
"""
    )
    assert project.problems() == ["schedules/c.yaml:11:35: 'title' may not be empty"]


def test_a_together_message_is_checked_against_each_network_s_limit(project: Project) -> None:
    long_fr, long_en = "é" * 300, "e" * 300
    project.campaign(
        BILINGUAL
        + f"""\
bilingual: together
posts:
  - id: long
    at: 2030-05-02 09:00
    text: {{fr: "{long_fr}", en: "{long_en}"}}
"""
    )
    assert project.problems() == [
        "schedules/c.yaml:13:11: 'long' is too long for masto: the mastodon post with fr-CA and en "
        "together has 607 characters, the limit is 500; shorten it, or publish each language on its own "
        "(bilingual: separate)",
    ]
    project.campaign(
        BILINGUAL
        + f"""\
posts:
  - id: long
    at: 2030-05-02 09:00
    text: {{fr: "{long_fr}", en: "{long_en}"}}
"""
    )
    assert {p.id: p.length for p in publications(project).values()} == {"long.fr-CA": 300, "long.en": 300}


def test_a_channel_takes_its_language_only(project: Project) -> None:
    project.campaign(
        BILINGUAL
        + """\
posts:
  - {id: les-deux, at: 2030-05-02 09:00, text: {fr: "Bonjour", en: "Hello"}}
  - {id: francais, at: 2030-05-02 10:00, text: "Seulement en français", language: fr-CA}
  - {id: vers-anglais, at: 2030-05-02 11:00, text: "Rien", language: fr-CA, to: [masto, tg-en]}
"""
    )
    assert project.problems() == [
        "schedules/c.yaml:12:89: channel 'tg-en' takes only en, and this post is in fr-CA; remove it "
        "from to:, or add en to its languages",
    ]
    project.campaign(
        BILINGUAL
        + """\
posts:
  - {id: les-deux, at: 2030-05-02 09:00, text: {fr: "Bonjour", en: "Hello"}}
  - {id: francais, at: 2030-05-02 10:00, text: "Seulement en français", language: fr-CA}
"""
    )
    found = publications(project)
    assert {(i, c): p.text for (i, c), p in found.items()} == {
        ("les-deux.fr-CA", "tg-fr"): "Bonjour",
        ("les-deux.fr-CA", "masto"): "Bonjour",
        ("les-deux.en", "tg-en"): "Hello",
        ("les-deux.en", "masto"): "Hello",
        ("francais", "tg-fr"): "Seulement en français",
        ("francais", "masto"): "Seulement en français",
    }


def test_an_id_that_could_be_one_relais_makes_is_refused(project: Project) -> None:
    project.campaign(
        BILINGUAL
        + """\
posts:
  - {id: rapport.en, at: 2030-05-02 09:00, text: {fr: a, en: b}}
livestreams:
  - {id: direct@1h, title: t, starts: 2030-05-02 13:30, ends: 2030-05-02 14:30, text: {fr: a, en: b}}
"""
    )
    assert project.problems() == [
        "schedules/c.yaml:10:10: 'rapport.en' cannot be an id: Relais puts '.' between a post's id and "
        "a language (the en publication of rapport is rapport.en); write rapport-en",
        "schedules/c.yaml:12:10: 'direct@1h' cannot be an id: Relais puts '@' between a livestream's id "
        "and a reminder (conference@1h); write direct-1h",
    ]


def test_languages_are_checked_where_they_are_written(project: Project) -> None:
    project.campaign(
        BILINGUAL.replace("languages: [fr-CA, en]", "language: fr-CA\nlanguages: [fr-CA, en, fr-CA]").replace(
            "language: en}", "language: english}"
        )
        + """\
posts:
  - {id: un, at: 2030-05-02 09:00, text: a, language: fr, languages: [fr, en]}
  - {id: deux, at: 2030-05-02 09:00, text: {fr: a, en: b}, languages: []}
"""
    )
    assert project.problems() == [
        "schedules/c.yaml:4:1: give either language: fr-CA (every post in one language) or languages: "
        "[fr-CA, en] (every post in each), not both",
        "schedules/c.yaml:8:65: unknown language 'english'; write a language code like fr, fr-CA or en "
        "(English is en)",
        "schedules/c.yaml:11:59: give either language: (one language) or languages: (several), not both",
        "schedules/c.yaml:12:71: 'languages' is empty; list at least one, e.g. languages: [fr-CA, en]",
    ]


def test_hashtags_per_language(project: Project) -> None:
    with_templates(project).campaign(
        BILINGUAL.replace(
            "hashtags: [gautrinweb2]", "hashtags: {fr-CA: [gautrinweb2], en: [gautrinweb2_en, opengov]}"
        )
        + RAPPORT
    )
    result = project.load()
    assert result.ok, [str(p) for p in result.problems]
    [campaign] = result.campaigns
    assert campaign.hashtags == ("gautrinweb2", "gautrinweb2_en", "opengov")  # all collected
    texts = {p.id: p.text for p in campaign.publications if p.channel.name == "masto"}
    assert texts["rapport.fr-CA"].endswith(" #gautrinweb2")
    assert texts["rapport.en"].endswith(" #gautrinweb2_en")


def test_a_hashtag_missing_in_a_language_says_where_to_add_it(project: Project) -> None:
    with_templates(project).campaign(
        BILINGUAL.replace("hashtags: [gautrinweb2]", 'hashtags: {fr: [gautrinweb2], es: ["#bad tag"]}')
        + RAPPORT
    )
    assert project.problems() == [
        "messages/annonce.en.md:3:23: 'hashtag' is not defined: the campaign has no hashtag for en; add one "
        "under hashtags: at the top of the file, e.g. hashtags: [gautrinweb2] (or en: [gautrinweb2] when "
        "hashtags are given per language) (for rapport in schedules/c.yaml)",
        "schedules/c.yaml:4:36: '#bad tag' cannot be a hashtag: Telegram and Mastodon hashtags hold only "
        "letters, digits and _; write badtag or bad_tag",
    ]


def test_a_campaign_in_one_language_keeps_its_ids_and_keys(project: Project) -> None:
    project.template("annonce.fr.md", ANNONCE_FR)
    project.campaign(
        BILINGUAL.replace("languages: [fr-CA, en]", "language: fr-CA").replace(", language: fr}", "}")
        + RAPPORT.replace('{fr: "Le rapport est en ligne", en: "The report is online"}', '"Le rapport"')
        + """\
livestreams:
  - {id: direct, title: t, starts: 2030-05-02 13:30, ends: 2030-05-02 14:30, text: a, remind: [1h]}
"""
    )
    found = publications(project)
    assert sorted(p.key for p in found.values()) == [
        "essai/direct@1h/masto",
        "essai/direct@1h/tg-fr",
        "essai/rapport/masto",
        "essai/rapport/tg-fr",
    ]  # (tg-en takes only English: nothing of this campaign)


def test_an_unknown_language_on_a_livestream_is_a_problem_not_a_traceback(project: Project) -> None:
    """Regression: the reminders' "dans 1 heure" was written in the unknown language."""
    project.campaign(
        BILINGUAL
        + """\
livestreams:
  - {id: direct, title: t, starts: 2030-05-02 13:30, ends: 2030-05-02 14:30, text: a, language: xx}
"""
    )
    assert project.problems() == [
        "schedules/c.yaml:10:97: unknown language 'xx'; write a language code like fr, fr-CA or en",
    ]


def test_the_readme_example_validates_and_plans_as_it_says(project: Project) -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("### Posts in French and English", 1)[1].split("\n### ", 1)[0]
    campaign = re.search(r"```yaml\n(.*?)```", section, re.DOTALL)
    assert campaign is not None
    project.campaign(campaign.group(1))
    for name, body in re.findall(r"`messages/(\S+\.md)`:\n\n```markdown\n(.*?)```", section, re.DOTALL):
        project.template(name, body)
    result = project.load()
    assert result.errors == []
    found = sorted((p.id, p.channel.name) for c in result.campaigns for p in c.publications)
    assert found == [
        ("merci", "mastodon"),
        ("merci.en", "announcements"),
        ("merci.fr-CA", "annonces"),
        ("rapport-en-ligne.en", "announcements"),
        ("rapport-en-ligne.en", "mastodon"),
        ("rapport-en-ligne.fr-CA", "annonces"),
        ("rapport-en-ligne.fr-CA", "mastodon"),
    ]
    described = set(re.findall(r"`([a-z-]+(?:\.(?:fr-CA|en))?)` \(on `", section))
    assert described == {"rapport-en-ligne.fr-CA", "rapport-en-ligne.en", "merci", "merci.fr-CA", "merci.en"}


# -- a real relais run ---------------------------------------------------------------

CHAT_EN, CHAT_EN_ID = "@GautrinWeb2_en", -1009876543210


@pytest.fixture
def deployment(tmp_path: Path) -> Iterator[Deployment]:
    with FakeTelegram() as telegram, FakeMastodon(token=MASTODON_TOKEN) as mastodon:
        deployment = Deployment(tmp_path, telegram, mastodon, f"sqlite:///{tmp_path / 'relais.db'}")
        telegram.add_chat(CHAT_EN_ID, "channel", title="Governing together", username=CHAT_EN[1:])
        yield deployment


def test_each_language_goes_out_once_through_relais_run(deployment: Deployment) -> None:
    due = datetime.now(UTC) - timedelta(seconds=1)
    (deployment.root / "schedules" / "c.yaml").write_text(
        f"""\
campaign: c
timezone: America/Montreal
languages: [fr-CA, en]
hashtags: [gautrinweb2]
channels:
  tg-fr: {{network: telegram, chat: "{CHAT}", language: fr-CA}}
  tg-en: {{network: telegram, chat: "{CHAT_EN}", language: en}}
  masto: {{network: mastodon}}
posts:
  - id: rapport
    at: "{stamp(due)}"
    text: {{fr: "Le rapport est en ligne {{{{ hashtag }}}}", en: "The report is online {{{{ hashtag }}}}"}}
  - id: merci
    at: "{stamp(due)}"
    bilingual: together
    to: masto
    text: {{fr: "Merci", en: "Thank you"}}
""",
        encoding="utf-8",
    )
    bot = deployment.start()
    deployment.telegram.wait_for(lambda tg: len(tg.sent) == 2, timeout=20)
    assert deployment.mastodon.wait_for(lambda: len(deployment.mastodon.statuses) == 3, timeout=20)
    bot.wait_for_line("running;")
    assert bot.stop() == 0
    bot = deployment.start()  # a restart sends nothing again
    bot.wait_for_line("running;")
    assert bot.stop() == 0
    sent = sorted((m.chat_id, m.text) for m in deployment.telegram.sent)
    assert sent == [
        (CHAT_EN_ID, "The report is online #gautrinweb2"),
        (-1001234567890, "Le rapport est en ligne #gautrinweb2"),
    ]
    statuses = sorted(
        (s["language"], re.sub(r"<[^>]+>", " ", s["content"]).split()[0])
        for s in deployment.mastodon.statuses
    )
    assert statuses == [("en", "The"), ("fr", "Le"), ("fr", "Merci")]
    assert deployment.states() == {
        "rapport.fr-CA/tg-fr": "published",
        "rapport.fr-CA/masto": "published",
        "rapport.en/tg-en": "published",
        "rapport.en/masto": "published",
        "merci/masto": "published",
    }
