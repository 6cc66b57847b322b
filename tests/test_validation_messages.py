"""What a staff member reads when a campaign file is wrong: where, what and how to fix it,
in the words of the file (not pydantic's), once. The exact text is asserted."""

from __future__ import annotations

from tests.conftest import BASE, Project


def with_posts(posts: str) -> str:
    return BASE + "posts:\n" + posts


def test_to_takes_a_single_channel_name(project: Project) -> None:
    project.campaign(with_posts("  - {id: un, at: 2012-05-02 09:00, text: a, to: masto}\n"))
    result = project.load()
    assert result.problems == []
    assert [p.channel.name for p in result.campaigns[0].publications] == ["masto"]


def test_a_chat_must_be_text_or_a_number_not_true(project: Project) -> None:
    project.campaign(
        BASE
        + """\
  vrai: {network: telegram, chat: true}
  virgule: {network: telegram, chat: 1.5}
  liste: {network: telegram, chat: ["@a"]}
"""
    )
    fix = 'must be an @username in quotes, like "@GautrinWeb2", or a numeric chat id, like -1001234567890'
    assert project.problems() == [
        f"schedules/c.yaml:8:35: 'chat' {fix}; not true",
        f"schedules/c.yaml:9:38: 'chat' {fix}; not 1.5",
        f"schedules/c.yaml:10:36: 'chat' {fix}; not a list",
    ]


def test_empty_alt_text_says_what_it_is_for(project: Project) -> None:
    (project.root / "schedules" / "x.png").write_bytes(b"")
    project.campaign(
        with_posts('  - {id: un, at: 2012-05-02 09:00, text: a, media: [{file: x.png, alt: ""}]}\n')
    )
    assert project.problems() == [
        "schedules/c.yaml:9:72: the alt text describes the image for people who cannot see it and "
        "may not be empty; write what the image shows",
    ]


def test_a_hashtag_with_a_dash_is_refused_consistently(project: Project) -> None:
    project.campaign(
        BASE.replace("[gautrinweb2]", "[Mairie-Riverbend, Hôtel_de_ville, '#budget2027', 'deux mots']")
    )
    assert project.problems() == [
        "schedules/c.yaml:4:12: 'Mairie-Riverbend' cannot be a hashtag: Telegram and Mastodon hashtags "
        "hold only letters, digits and _; write MairieRiverbend or Mairie_Riverbend",
        "schedules/c.yaml:4:61: 'deux mots' cannot be a hashtag: Telegram and Mastodon hashtags "
        "hold only letters, digits and _; write deuxmots or deux_mots",
    ]


def test_no_hashtag_makes_the_hashtag_variable_undefined(project: Project) -> None:
    project.campaign(
        BASE.replace("[gautrinweb2]", "[]")
        + "posts:\n  - {id: un, at: 2012-05-02 09:00, text: 'Répondez avec {{ hashtag }}'}\n"
        + "  - {id: deux, at: 2012-05-02 09:00, text: '{{ hashtags|join(\" \") }}.'}\n"
        + "  - {id: trois, at: 2012-05-02 09:00, text: '{% if hashtag is defined %}{{ hashtag }}{% endif %}.'}\n"
    )
    assert project.problems() == [
        "schedules/c.yaml:9:60: 'hashtag' is not defined: the campaign has no hashtag for fr-CA; add one "
        "under hashtags: at the top of the file, e.g. hashtags: [gautrinweb2] (or fr-CA: [gautrinweb2] when "
        "hashtags are given per language)",
    ]


def test_hashtags_with_no_value(project: Project) -> None:
    project.campaign(BASE.replace("[gautrinweb2]", ""))
    assert project.problems() == [
        "schedules/c.yaml:4:10: 'hashtags' has no value; list them, e.g. hashtags: [gautrinweb2], "
        "or write hashtags: [] for none",
    ]


def test_a_hashtag_written_with_its_hash_becomes_a_comment(project: Project) -> None:
    project.campaign(BASE.replace("[gautrinweb2]", "#gautrinweb2"))
    assert project.problems() == [
        "schedules/c.yaml:4:11: 'hashtags' has no value: in YAML, # starts a comment, so "
        "#gautrinweb2 was ignored; write hashtags: [gautrinweb2], or put it in quotes: "
        'hashtags: ["#gautrinweb2"]',
    ]
    project.campaign(BASE.replace("hashtags: [gautrinweb2]", "hashtags:\n  - #gautrinweb2"))
    assert project.problems() == [
        "schedules/c.yaml:5:5: this hashtag has no value: in YAML, # starts a comment, so "
        "#gautrinweb2 was ignored; write hashtags: [gautrinweb2], or put it in quotes: "
        'hashtags: ["#gautrinweb2"]',
    ]


def test_values_of_the_wrong_kind_are_said_in_plain_words(project: Project) -> None:
    project.campaign(
        """\
campaign: Essai Deux
timezone: America/Montreal
channels:
  masto: {network: mastodon, visibility: secret, max_characters: beaucoup}
  petit: {network: mastodon, max_characters: 0}
  tg: telegram
grace: 15
acknowledge: maybe
moderation: {banned_words: [""], hold_links: 3}
posts:
  - {id: un, at: 2012-05-02 09:00, text: [pas, du, texte], vars: [1]}
  - {id: deux, at: 2012-05-02 09:00, text: 2012, media: x.jpg}
  - juste une phrase
  -
livestreams:
  - {id: l, title: , starts: 2012-05-02 13:30, ends: 2012-05-02 14:30, text: a, remind: 1h}
  - {id: ll, title: t, starts: 2012-05-02 13:30, ends: 2012-05-02 14:30, text: a, remind: [1, start]}
"""
    )
    assert project.problems() == [
        "schedules/c.yaml:1:11: 'Essai Deux' is not a valid name: use lowercase letters, digits, '-' "
        "and '_', starting with a letter or digit; write essai-deux",
        "schedules/c.yaml:4:42: 'visibility' must be public, unlisted, private or direct, not 'secret'",
        "schedules/c.yaml:4:66: 'max_characters' must be a whole number, like 500, not 'beaucoup'",
        "schedules/c.yaml:5:46: 'max_characters' must be more than 0, not 0",
        "schedules/c.yaml:6:7: channel 'tg' must be a map, like tg: {network: telegram, chat: \"@name\"}",
        "schedules/c.yaml:7:8: 'grace' needs a unit; write 15m for minutes, 15h for hours or 15d for days",
        "schedules/c.yaml:8:14: 'acknowledge' must be true or false, not 'maybe'",
        "schedules/c.yaml:9:29: this banned word is empty; write one, or remove it",
        "schedules/c.yaml:9:46: 'hold_links' must be true or false, not 3",
        "schedules/c.yaml:11:42: 'text' must be text, not a list; put it in quotes if it starts with [",
        "schedules/c.yaml:11:66: 'vars' must be a map, like vars: {name: value}",
        "schedules/c.yaml:12:44: 'text' must be text; write text: \"2012\"",
        "schedules/c.yaml:12:57: 'media' must be a list, like media: [{file: x.jpg, alt: what the image shows}]",
        "schedules/c.yaml:13:5: this post must be a map of keys (id:, at:, text: …), not 'juste une phrase'",
        "schedules/c.yaml:14:4: this post is empty; write its keys (id:, at:, text: …) or remove the '-'",
        "schedules/c.yaml:16:20: 'title' has no value; write one after 'title:'",
        "schedules/c.yaml:16:89: 'remind' must be a list; write remind: [1h]",
        "schedules/c.yaml:17:92: this reminder needs a unit; write 1m for minutes, 1h for hours or 1d for days",
    ]


def test_missing_keys_say_what_to_add(project: Project) -> None:
    project.campaign("""\
campaign: essai
channels:
  tg: {network: telegram}
posts:
  - {at: 2012-05-02 09:00, text: a, media: [{file: x.png}]}
""")
    assert project.problems() == [
        "schedules/c.yaml:1:1: missing key 'timezone'; add it, e.g. timezone: America/Montreal",
        "schedules/c.yaml:3:7: missing key 'chat'; add it, e.g. chat: \"@GautrinWeb2\"",
        "schedules/c.yaml:5:5: missing key 'id'; add it, e.g. id: rapport-en-ligne",
        "schedules/c.yaml:5:45: missing key 'alt': the alt text describes the image for people who "
        "cannot see it; add it, e.g. alt: what the image shows",
    ]


def test_no_channel_at_all(project: Project) -> None:
    project.campaign("campaign: essai\ntimezone: America/Montreal\nchannels: {}\n")
    assert project.problems() == [
        "schedules/c.yaml:3:11: 'channels' needs at least one channel, e.g. "
        'channels: {tg: {network: telegram, chat: "@GautrinWeb2"}}',
    ]


def test_channels_without_a_network(project: Project) -> None:
    project.campaign(
        BASE
        + """\
  sans: {chat: "@GautrinWeb2"}
  vide: {network: , chat: "@GautrinWeb2"}
  rien:
  autre: {network: bluesky}
"""
    )
    assert project.problems() == [
        "schedules/c.yaml:8:9: missing key 'network'; add network: telegram or network: mastodon",
        "schedules/c.yaml:9:19: 'network' has no value; write network: telegram or network: mastodon",
        "schedules/c.yaml:10:8: channel 'rien' has no value; write it like rien: "
        '{network: telegram, chat: "@name"}',
        "schedules/c.yaml:11:20: unknown network 'bluesky'; write network: telegram or network: mastodon",
    ]
