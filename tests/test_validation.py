"""Every validation rule, with the exact message a user sees."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from PIL import Image

from bot.core.campaigns import load_campaigns
from tests.conftest import BASE, Project

ANNONCE = "**{{ titre }}** {{ hashtag }}\n"


def with_posts(posts: str) -> str:
    return BASE + "posts:\n" + posts


def test_a_valid_campaign_has_no_problem(project: Project) -> None:
    project.template("annonce.fr.md", ANNONCE)
    project.campaign(
        with_posts("""\
  - id: un
    at: 2012-05-02 09:00
    message: annonce
    vars: {titre: Bonjour}
""")
    )
    result = project.load()
    assert result.problems == []
    [campaign] = result.campaigns
    assert [(p.id, p.channel.name, p.text) for p in campaign.publications] == [
        ("un", "masto", "Bonjour #gautrinweb2"),
        ("un", "tg", "<b>Bonjour</b> #gautrinweb2"),
    ]


def test_unknown_keys_are_errors_with_a_suggestion(project: Project) -> None:
    project.campaign(
        BASE.replace("language:", "langage:")
        + """\
posts:
  - id: un
    at: 2012-05-02 09:00
    text: salut
    mesage: oups
"""
    )
    assert project.problems() == [
        "schedules/c.yaml:3:1: unknown key 'langage'; did you mean 'language'?",
        "schedules/c.yaml:12:5: unknown key 'mesage'; did you mean 'message'?",
    ]


def test_unknown_key_in_a_channel_lists_the_allowed_ones(project: Project) -> None:
    project.campaign(BASE.replace("{network: mastodon}", "{network: mastodon, chat: x}"))
    assert project.problems() == [
        "schedules/c.yaml:7:30: unknown key 'chat'; allowed: language, max_characters, network, visibility",
    ]


def test_missing_keys_and_wrong_types(project: Project) -> None:
    project.campaign("""\
campaign: essai
channels:
  tg: {network: telegram}
  fax: {network: fax}
acknowledge: maybe
posts:
  - at: 2012-05-02 09:00
    text: [not, text]
""")
    assert project.problems() == [
        "schedules/c.yaml:1:1: missing key 'timezone'; add it, e.g. timezone: America/Montreal",
        "schedules/c.yaml:3:7: missing key 'chat'; add it, e.g. chat: \"@GautrinWeb2\"",
        "schedules/c.yaml:4:18: unknown network 'fax'; write network: telegram or network: mastodon",
        "schedules/c.yaml:5:14: 'acknowledge' must be true or false, not 'maybe'",
        "schedules/c.yaml:7:5: missing key 'id'; add it, e.g. id: rapport-en-ligne",
        "schedules/c.yaml:8:11: 'text' must be text, not a list; put it in quotes if it starts with [",
    ]


def test_ids_are_unique_and_well_formed(project: Project) -> None:
    project.campaign(
        with_posts("""\
  - {id: un, at: 2012-05-02 09:00, text: a}
  - {id: un, at: 2012-05-03 09:00, text: b}
  - {id: "Deux Mots", at: 2012-05-03 09:00, text: c}
livestreams:
  - {id: un, title: t, starts: 2012-05-02 13:30, ends: 2012-05-02 14:30, text: d}
""")
    )
    assert project.problems() == [
        "schedules/c.yaml:10:10: id 'un' is already used on line 9; ids must be unique in a campaign",
        "schedules/c.yaml:11:10: 'Deux Mots' is not a valid name: use lowercase letters, digits, "
        "'-' and '_', starting with a letter or digit; write deux-mots",
        "schedules/c.yaml:13:10: id 'un' is already used on line 9; ids must be unique in a campaign",
    ]


def test_campaign_names_are_unique_across_files(project: Project) -> None:
    project.campaign(BASE, "a.yaml")
    project.campaign(BASE, "b.yaml")
    assert project.problems() == [
        "schedules/b.yaml:1:11: campaign 'essai' is already defined in schedules/a.yaml",
    ]


def test_to_names_existing_channels(project: Project) -> None:
    project.campaign(with_posts("  - {id: un, at: 2012-05-02 09:00, text: a, to: [tg, mastodon]}\n"))
    assert project.problems() == [
        "schedules/c.yaml:9:54: unknown channel 'mastodon' (channels: masto, tg)",
    ]


def test_message_or_text(project: Project) -> None:
    project.template("a.md", "a")
    project.campaign(
        with_posts("""\
  - {id: un, at: 2012-05-02 09:00}
  - {id: deux, at: 2012-05-02 09:00, text: a, message: a}
""")
    )
    assert project.problems() == [
        "schedules/c.yaml:9:5: give either 'message:' (a template in messages/) or 'text:'",
        "schedules/c.yaml:10:5: give either 'message:' (a template in messages/) or 'text:', not both",
    ]


def test_missing_template_says_which_files_were_tried(project: Project) -> None:
    project.campaign(with_posts("  - {id: un, at: 2012-05-02 09:00, message: absent}\n"))
    assert project.problems() == [
        "schedules/c.yaml:9:45: no template 'absent' (looked for messages/absent.fr-CA.md, "
        "messages/absent.fr.md, messages/absent.md)",
    ]


def test_language_variants_are_chosen_by_the_post_language(project: Project) -> None:
    project.template("salut.fr.md", "Bonjour")
    project.template("salut.en.md", "Hello")
    project.template("salut.md", "Hi")
    project.campaign(
        with_posts("""\
  - {id: un, at: 2012-05-02 09:00, message: salut, to: [masto]}
  - {id: deux, at: 2012-05-02 09:00, message: salut, to: [masto], language: en}
  - {id: trois, at: 2012-05-02 09:00, message: salut, to: [masto], language: de}
""")
    )
    texts = {p.id: p.text for p in project.load().campaigns[0].publications}
    assert texts == {"un": "Bonjour", "deux": "Hello", "trois": "Hi"}


def test_undefined_template_variable(project: Project) -> None:
    project.template("annonce.fr.md", ANNONCE)
    project.campaign(with_posts("  - {id: un, at: 2012-05-02 09:00, message: annonce}\n"))
    assert project.problems() == [
        "messages/annonce.fr.md:1:6: 'titre' is not defined; define it under vars: (for un in schedules/c.yaml)",
    ]


def test_template_syntax_error_is_reported_once_in_the_template(project: Project) -> None:
    project.template("casse.md", "Bonjour\n{{ titre }\n")
    project.campaign(
        with_posts("""\
  - {id: un, at: 2012-05-02 09:00, message: casse}
  - {id: deux, at: 2012-05-02 09:00, message: casse}
""")
    )
    assert project.problems() == [
        "messages/casse.md:2:1: template error: unexpected '}'",
    ]


def test_inline_text_syntax_error_points_into_the_campaign(project: Project) -> None:
    project.campaign(with_posts("  - id: un\n    at: 2012-05-02 09:00\n    text: 'a {% if %}'\n"))
    assert project.problems() == [
        "schedules/c.yaml:11:12: template error: Expected an expression, got 'end of statement block'",
    ]


def test_vars_may_not_hide_what_relais_provides(project: Project) -> None:
    project.campaign(with_posts("  - {id: un, at: 2012-05-02 09:00, text: a, vars: {hashtag: x}}\n"))
    assert project.problems() == [
        "schedules/c.yaml:9:52: 'hashtag' is set by Relais; choose another name",
    ]


def test_time_zone_must_be_an_iana_name(project: Project) -> None:
    project.campaign(BASE.replace("America/Montreal", "America/Montréal"))
    assert project.problems() == [
        "schedules/c.yaml:2:11: unknown time zone 'America/Montréal'; did you mean America/Montreal?",
    ]


def test_daylight_saving_gaps_and_overlaps_ask_for_an_offset(project: Project) -> None:
    project.campaign(
        with_posts("""\
  - {id: saut, at: 2012-03-11 02:30, text: a}
  - {id: double, at: 2011-11-06 01:30, text: b}
  - {id: explicite, at: 2011-11-06 01:30-05:00, text: c}
""")
    )
    assert project.problems() == [
        "schedules/c.yaml:9:20: 2012-03-11 02:30 does not exist in America/Montreal: the clocks "
        "skip it at the daylight saving time change; write the instant you mean with an "
        "explicit offset, e.g. 2012-03-11 02:30-05:00",
        "schedules/c.yaml:10:22: 2011-11-06 01:30 happens twice in America/Montreal (daylight "
        "saving time change); write it with an explicit offset: 2011-11-06 01:30-04:00 or "
        "2011-11-06 01:30-05:00",
    ]


def test_livestream_ends_after_it_starts_and_reminders_are_durations(project: Project) -> None:
    project.campaign(
        BASE
        + """\
livestreams:
  - id: direct
    title: Direct
    starts: 2012-05-02 13:30
    ends: 2012-05-02 13:00
    text: a
  - id: autre
    title: Autre
    starts: 2012-05-03 13:30
    ends: 2012-05-03 14:30
    remind: [1h, une heure, 1h]
    text: b
"""
    )
    assert project.problems() == [
        "schedules/c.yaml:12:11: the livestream must end after it starts",
        "schedules/c.yaml:18:18: 'une heure' is not a reminder; write how long before the start, "
        "like 1d, 1h or 10m, or start for the moment it begins",
        "schedules/c.yaml:18:29: reminder '1h' is listed twice",
    ]


def test_livestream_expands_into_one_publication_per_reminder_and_channel(project: Project) -> None:
    project.template("rappel.md", "{{ relative|capitalize }} : {{ title }}, {{ starts|datetime }}")
    project.campaign(
        BASE
        + """\
livestreams:
  - id: conference-de-presse
    title: Conférence de presse
    starts: 2012-05-02 13:30
    ends: 2012-05-02 14:30
    remind: [1d, 1h, 10m, start]
    message: rappel
    to: [masto]
"""
    )
    publications = project.load().campaigns[0].publications
    assert [(p.id, p.local_at.strftime("%d %H:%M"), p.text) for p in publications] == [
        (
            "conference-de-presse@1d",
            "01 13:30",
            "Demain : Conférence de presse, mercredi 2 mai 2012 à 13 h 30",
        ),
        (
            "conference-de-presse@1h",
            "02 12:30",
            "Dans 1 heure : Conférence de presse, mercredi 2 mai 2012 à 13 h 30",
        ),
        (
            "conference-de-presse@10m",
            "02 13:20",
            "Dans 10 minutes : Conférence de presse, mercredi 2 mai 2012 à 13 h 30",
        ),
        (
            "conference-de-presse@start",
            "02 13:30",
            "En direct : Conférence de presse, mercredi 2 mai 2012 à 13 h 30",
        ),
    ]
    assert publications[0].not_after == publications[-1].at
    assert publications[-1].not_after == publications[-1].at.replace(hour=18, minute=30)


def test_media_must_exist_and_carry_alt_text(project: Project) -> None:
    Image.new("RGB", (40, 30)).save(project.root / "schedules" / "couverture.jpg")
    project.campaign(
        with_posts("""\
  - id: un
    at: 2012-05-02 09:00
    text: a
    media: [{file: couverture.jpg}]
  - id: deux
    at: 2012-05-02 09:00
    text: b
    media: [{file: absente.jpg, alt: Couverture}]
  - id: trois
    at: 2012-05-02 09:00
    text: c
    media: [{file: couverture.jpg, alt: Couverture du rapport}]
""")
    )
    assert project.problems() == [
        "schedules/c.yaml:12:13: missing key 'alt': the alt text describes the image for people who "
        "cannot see it; add it, e.g. alt: what the image shows",
        "schedules/c.yaml:16:20: media file not found: schedules/absente.jpg (paths are relative to "
        "the campaign file)",
    ]


def test_text_too_long_for_mastodon(project: Project) -> None:
    project.campaign(
        with_posts(
            f"  - {{id: long, at: 2012-05-02 09:00, text: '{'a' * 490} https://example.org/{'x' * 100}'}}\n"
        )
    )
    assert project.problems() == [
        "schedules/c.yaml:9:44: 'long' is too long for masto: the mastodon post has 514 characters, "
        "the limit is 500",
    ]


def test_mastodon_limit_can_be_raised_by_the_campaign(project: Project) -> None:
    project.campaign(
        with_posts(f"  - {{id: long, at: 2012-05-02 09:00, text: '{'a' * 600}'}}\n").replace(
            "{network: mastodon}", "{network: mastodon, max_characters: 1000}"
        )
    )
    assert project.problems() == []


def test_caption_limit_for_telegram_photos(project: Project) -> None:
    Image.new("RGB", (40, 30)).save(project.root / "schedules" / "photo.png")
    project.campaign(
        with_posts(f"""\
  - id: photo
    at: 2012-05-02 09:00
    to: [tg]
    text: '{"é" * 1025}'
    media: [{{file: photo.png, alt: Une photo}}]
""")
    )
    assert project.problems() == [
        "schedules/c.yaml:12:11: 'photo' is too long for tg: the telegram caption has 1025 characters, "
        "the limit is 1024",
    ]


def test_telegram_limit_counts_what_is_shown_not_the_markup(project: Project) -> None:
    project.campaign(
        with_posts(f"  - {{id: long, at: 2012-05-02 09:00, to: [tg], text: '**{'a' * 4096}**'}}\n")
    )
    result = project.load()
    assert result.problems == []
    assert result.campaigns[0].publications[0].length == 4096


def test_syntax_error_in_yaml(project: Project) -> None:
    project.campaign(BASE + "posts:\n  - {id: un, at: 2012-05-02 09:00\n")
    assert project.problems() == [
        "schedules/c.yaml:9:5: this map is never closed: add '}' after its last entry",
    ]


def test_duplicate_keys_are_errors(project: Project) -> None:
    project.campaign(BASE + "timezone: Europe/Paris\n")
    assert project.problems() == ["schedules/c.yaml:8:1: duplicate key 'timezone'"]


def test_non_utf8_file(project: Project) -> None:
    (project.root / "schedules" / "c.yaml").write_bytes(BASE.encode() + "# café\n".encode("latin-1"))
    assert project.problems() == [
        "schedules/c.yaml:8:6: not UTF-8 (byte 0xe9); save the file as UTF-8",
    ]


def test_empty_file_and_empty_directory(project: Project) -> None:
    assert project.problems() == ["schedules: no campaign files (*.yaml) in this directory"]
    project.campaign("")
    assert project.problems() == [
        "schedules/c.yaml: the file is empty; a campaign needs at least campaign:, timezone: and channels:",
    ]


def test_a_file_that_is_not_a_map(project: Project) -> None:
    project.campaign("- just\n- a list\n")
    assert project.problems() == [
        "schedules/c.yaml:1:1: a campaign file must be a map of keys (campaign:, timezone:, channels:, …)",
    ]


def test_a_huge_file_is_refused_without_reading_it(project: Project) -> None:
    path = project.root / "schedules" / "c.yaml"
    with path.open("wb") as f:
        f.truncate(10 * 1024 * 1024)
    assert project.problems() == [
        "schedules/c.yaml: the file is 10.0 MB; a campaign file may be at most 4 MB "
        "(split it into several campaigns)",
    ]


def test_one_bad_file_hides_nothing_of_another(project: Project) -> None:
    project.campaign("campaign: [\n", "a.yaml")
    project.campaign(BASE.replace("America/Montreal", "Mars/Olympus"), "b.yaml")
    (project.root / "schedules" / "c.yaml").write_bytes(b"\xff\xfe")
    assert project.problems() == [
        "schedules/a.yaml:1:11: this list is never closed: add ']' after its last item",
        "schedules/b.yaml:2:11: unknown time zone 'Mars/Olympus'; use an IANA name like America/Montreal",
        "schedules/c.yaml:1:1: not UTF-8 (byte 0xff); save the file as UTF-8",
    ]


def test_missing_messages_directory(project: Project) -> None:
    project.campaign(with_posts("  - {id: un, at: 2012-05-02 09:00, text: a}\n"))
    (project.root / "messages").rmdir()
    assert project.problems() == ["messages: no such directory"]


def test_non_utf8_template(project: Project) -> None:
    (project.root / "messages" / "vieux.md").write_bytes("Réunion\n".encode("latin-1"))
    project.campaign(BASE)
    assert project.problems() == ["messages/vieux.md:1:2: not UTF-8 (byte 0xe9); save the file as UTF-8"]


def test_telegram_chat_must_be_a_username_or_an_id(project: Project) -> None:
    project.campaign(BASE.replace('"@GautrinWeb2"', '"GautrinWeb2"'))
    assert project.problems() == [
        "schedules/c.yaml:6:33: chat 'GautrinWeb2' is neither an @username nor a numeric chat id; "
        'write "@GautrinWeb2" for a public channel or group, or its numeric id, like -1001234567890',
    ]
    project.campaign(BASE.replace('"@GautrinWeb2"', "-1001234567890"))
    assert project.problems() == []


def test_paths_in_messages_are_relative_to_the_working_directory(project: Project) -> None:
    assert Path.cwd() == project.root


def test_yaml_aliases_are_refused_so_a_file_cannot_explode(project: Project) -> None:
    project.campaign(BASE + "posts: &a [*a]\n")
    assert project.problems() == [
        "schedules/c.yaml:8:8: YAML aliases (*name) are not supported in campaign files; write the value",
    ]
    laughs = "".join(f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 10)}]\n" for i in range(1, 9))
    project.campaign(BASE + "l0: &l0 [ha]\n" + laughs)
    problems = project.problems()  # returns at once: nothing is expanded
    assert (
        "schedules/c.yaml:8:5: YAML aliases (*name) are not supported in campaign files; write the value"
        in problems
    )


def test_a_template_that_fails_while_rendering_is_a_problem_not_a_traceback(project: Project) -> None:
    project.campaign(with_posts("  - {id: un, at: 2012-05-02 09:00, text: '{{ 1 // 0 }}'}\n"))
    assert project.problems() == [
        "schedules/c.yaml:9:43: division by zero",
    ]


def test_a_directory_named_like_a_template_is_not_one(project: Project) -> None:
    (project.root / "messages" / "dossier.md").mkdir()
    project.campaign(with_posts("  - {id: un, at: 2012-05-02 09:00, message: dossier}\n"))
    assert project.problems() == [
        "schedules/c.yaml:9:45: no template 'dossier' (looked for messages/dossier.fr-CA.md, "
        "messages/dossier.fr.md, messages/dossier.md)",
    ]


def test_a_grace_of_zero_is_kept(project: Project) -> None:
    project.campaign(BASE + "grace: 0m\n")
    assert project.load().campaigns[0].grace == timedelta(0)


def test_huge_durations_and_extreme_dates_are_problems_not_tracebacks(project: Project) -> None:
    project.campaign(
        BASE
        + """\
grace: 99999999999d
posts:
  - {id: fin-des-temps, at: 9999-12-31 23:30, text: a}
livestreams:
  - id: lointain
    title: Lointain
    starts: 0001-01-01 10:00+00:00
    ends: 0001-01-01 11:00+00:00
    remind: [1d]
    text: b
  - id: rappels
    title: Rappels
    starts: 2012-05-02 13:30
    ends: 2012-05-02 14:30
    remind: [99999999999d, start]
    text: c
"""
    )
    assert project.problems() == [
        "schedules/c.yaml:8:8: '99999999999d' is longer than 365 days, the longest duration Relais "
        "takes; write at most 365d",
        "schedules/c.yaml:10:29: '9999-12-31 23:30': the year 9999 is out of range; Relais takes "
        "years from 1970 to 2999",
        "schedules/c.yaml:14:13: '0001-01-01 10:00+00:00': the year 1 is out of range; Relais takes "
        "years from 1970 to 2999",
        "schedules/c.yaml:15:11: '0001-01-01 11:00+00:00': the year 1 is out of range; Relais takes "
        "years from 1970 to 2999",
        "schedules/c.yaml:22:14: '99999999999d' is longer than 365 days, the longest duration Relais "
        "takes; write at most 365d",
    ]


def test_the_last_and_first_years_still_work_with_reminders(project: Project) -> None:
    project.campaign(
        BASE
        + """\
grace: 365d
livestreams:
  - {id: premier, title: t, starts: 1970-01-01 00:30+00:00, ends: 1970-01-01 01:00+00:00, text: a,
     remind: [365d, start]}
  - {id: dernier, title: t, starts: 2999-12-31 23:30, ends: 2999-12-31 23:45, text: a,
     remind: [365d, start]}
"""
    )
    result = project.load()
    assert result.problems == []
    assert [
        (p.id, p.at.isoformat()) for p in result.campaigns[0].publications if p.channel.name == "masto"
    ] == [
        ("premier@365d", "1969-01-01T00:30:00+00:00"),
        ("premier@start", "1970-01-01T00:30:00+00:00"),
        ("dernier@365d", "2999-01-01T04:30:00+00:00"),
        ("dernier@start", "3000-01-01T04:30:00+00:00"),
    ]


def test_a_time_already_past_is_a_warning_when_now_is_given(project: Project) -> None:
    project.campaign(
        with_posts("""\
  - {id: passe, at: 2027-01-15 09:00, text: a}
  - {id: dans-la-grace, at: 2027-01-15 09:50, text: b}
  - {id: futur, at: 2027-01-15 10:30, text: c}
livestreams:
  - id: fini
    title: Fini
    starts: 2027-01-14 13:30
    ends: 2027-01-14 14:30
    text: d
  - id: en-cours
    title: En cours
    starts: 2027-01-15 09:50
    ends: 2027-01-15 11:00
    remind: [1d, 1h, start]
    text: e
""")
    )
    now = datetime(2027, 1, 15, 10, 0, tzinfo=ZoneInfo("America/Montreal"))
    result = load_campaigns([Path("schedules")], Path("messages"), now=now)
    assert [str(p) for p in result.problems] == [
        "schedules/c.yaml:9:21: warning: 'passe' is due 2027-01-15 09:00, which is already past: "
        "relais run would mark it missed instead of publishing it; move it to a later time, or remove it",
        "schedules/c.yaml:15:13: warning: 'fini' starts 2027-01-14 13:30, which is already past: "
        "relais run would mark its reminders missed instead of publishing them; move it to a later "
        "time, or remove it",
        "schedules/c.yaml:22:14: warning: the 1d reminder of 'en-cours' is due 2027-01-14 09:50, which "
        "is already past: relais run would mark it missed instead of publishing it; remove 1d from "
        "remind:, or move the livestream",
        "schedules/c.yaml:22:18: warning: the 1h reminder of 'en-cours' is due 2027-01-15 08:50, which "
        "is already past: relais run would mark it missed instead of publishing it; remove 1h from "
        "remind:, or move the livestream",
    ]
    assert result.ok
    assert len(result.campaigns[0].publications) == 2 * (3 + 4 + 3)
    # Without a clock (relais run, which marks them missed itself), no warning.
    assert project.problems() == []
    # Once the store has settled a publication, its warning goes.
    result.forget_settled({"essai/passe/masto", "essai/passe/tg", "essai/fini@1d/tg"})
    assert [p.line for p in result.problems] == [15, 22, 22]


def test_fixed_offset_and_old_time_zone_names_are_warnings_naming_the_zone_to_use(project: Project) -> None:
    for name, message in [
        (
            "EST",
            "'EST' is UTC-05:00 all year, with no daylight saving time; write the time zone of the "
            "place, e.g. timezone: America/Toronto",
        ),
        (
            "Etc/GMT+5",
            "'Etc/GMT+5' is UTC-05:00 all year, with no daylight saving time; write the time zone of "
            "the place, e.g. timezone: America/Toronto",
        ),
        (
            "EST5EDT",
            "'EST5EDT' is an old name kept for compatibility; write the time zone of the place, "
            "e.g. timezone: America/Toronto",
        ),
        (
            "US/Eastern",
            "'US/Eastern' is an old name for America/New_York, kept for compatibility; write "
            "timezone: America/New_York",
        ),
        (
            "GMT",
            "'GMT' is UTC all year, with no daylight saving time; write timezone: UTC if that is "
            "what you mean, or the time zone of the place, e.g. timezone: Europe/London",
        ),
    ]:
        project.campaign(BASE.replace("America/Montreal", name))
        result = project.load()
        assert [str(p) for p in result.problems] == [f"schedules/c.yaml:2:11: warning: {message}"]
        assert result.campaigns[0].timezone.key == name  # a warning: the campaign still runs
    for good in ("America/Montreal", "America/Toronto", "UTC", "Etc/UTC", "Asia/Calcutta"):
        project.campaign(BASE.replace("America/Montreal", good))
        assert project.problems() == []


def test_a_zone_that_is_no_place_is_an_error(project: Project) -> None:
    project.campaign(BASE.replace("America/Montreal", "localtime"))
    assert project.problems() == [
        "schedules/c.yaml:2:11: 'localtime' is not the time zone of a place (it depends on the "
        "computer); write an IANA name like America/Montreal",
    ]


def test_an_unknown_language_is_caught_where_it_is_written(project: Project) -> None:
    project.campaign(
        BASE.replace("language: fr-CA", "language: francais")
        + """\
posts:
  - {id: un, at: 2012-05-02 09:00, text: sans date}
  - {id: deux, at: 2012-05-02 09:00, text: sans date, language: fr_CA}
  - {id: trois, at: 2012-05-02 09:00, text: sans date, language: xx}
  - {id: quatre, at: 2012-05-02 09:00, text: sans date, language: EN}
livestreams:
  - {id: direct, title: t, starts: 2012-05-02 13:30, ends: 2012-05-02 14:30, text: a, language: en-ZZ}
"""
    )
    assert project.problems() == [
        "schedules/c.yaml:3:11: unknown language 'francais'; write a language code like fr, fr-CA or en "
        "(French is fr)",
        "schedules/c.yaml:10:65: unknown language 'fr_CA'; write fr-CA",
        "schedules/c.yaml:11:66: unknown language 'xx'; write a language code like fr, fr-CA or en",
        "schedules/c.yaml:12:67: unknown language 'EN'; write en",
        "schedules/c.yaml:14:97: unknown language 'en-ZZ'; write a language code like fr, fr-CA or en",
    ]
