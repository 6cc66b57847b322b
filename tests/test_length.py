from bot.core.markdown import render
from bot.networks.mastodon import length as mastodon_length
from bot.networks.telegram import length as telegram_length
from bot.networks.telegram import shown_text


def test_mastodon_counts_links_as_23_and_remote_mentions_as_the_user() -> None:
    text = "Voir https://example.org/un/chemin/tres/long?x=1 merci @bob@mastodon.social"
    assert mastodon_length(text) == len("Voir ") + 23 + len(" merci @bob")


def test_mastodon_counts_grapheme_clusters_and_the_content_warning() -> None:
    assert mastodon_length("👍🏽 é") == 3
    assert mastodon_length("e\u0301") == 1  # e + combining acute
    assert mastodon_length("abc", spoiler_text="cw") == 5
    assert mastodon_length("« Gouverner ensemble » ’") == 24


def test_mastodon_link_length_follows_the_instance() -> None:
    assert mastodon_length("https://example.org/x", url_length=30) == 30


def test_telegram_counts_utf16_code_units() -> None:
    assert telegram_length("abc") == 3
    assert telegram_length("😀 é") == 4


def test_telegram_length_is_the_same_for_validation_and_the_adapter() -> None:
    """Validation counts the text the renderer says Telegram shows; the adapter counts what
    Telegram shows of the HTML it sends: one definition, the same figure."""
    rendered = render("**Bravo** 😀 à <tous> & [le site](https://example.org/?a=1&b=2) \\*\n\nfin")
    assert telegram_length(shown_text(rendered.html)) == telegram_length(rendered.html_shown) == 34
