"""The fake Mastodon server answers Mastodon.py and plain HTTP like the documented API."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import requests
from mastodon import (
    Mastodon,
    MastodonAPIError,
    MastodonInternalServerError,
    MastodonNetworkError,
    MastodonNotFoundError,
    MastodonRatelimitError,
)

from tests.fakes.mastodon_api import FakeMastodon, count_characters, grapheme_length

TOKEN = "test-token-not-real"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


@pytest.fixture
def md() -> Iterator[FakeMastodon]:
    with FakeMastodon(token=TOKEN) as fake:
        yield fake


def client(md: FakeMastodon, **kwargs: object) -> Mastodon:
    return Mastodon(
        access_token=TOKEN, api_base_url=md.url, version_check_mode="none", ratelimit_method="throw", **kwargs
    )


@pytest.fixture
def api(md: FakeMastodon) -> Mastodon:
    return client(md)


def test_instance_v2_reports_configured_limits(md: FakeMastodon, api: Mastodon) -> None:
    md.max_characters = 1000
    instance = api.instance_v2()
    statuses = instance.configuration.statuses
    assert (statuses.max_characters, statuses.max_media_attachments) == (1000, 4)
    assert statuses.characters_reserved_per_url == 23
    assert "image/png" in instance.configuration.media_attachments.supported_mime_types
    assert instance.version == "4.3.0"
    assert instance.api_versions["mastodon"] == 2
    v1 = requests.get(f"{md.url}/api/v1/instance", timeout=5).json()
    assert v1["configuration"]["statuses"]["max_characters"] == 1000


def test_auth_rejects_wrong_or_missing_token_and_never_records_it(md: FakeMastodon, api: Mastodon) -> None:
    assert api.account_verify_credentials().username == "relais"
    for headers in ({}, {"Authorization": "Bearer nope"}):
        answer = requests.get(f"{md.url}/api/v1/accounts/verify_credentials", headers=headers, timeout=5)
        assert answer.status_code == 401
        assert answer.json() == {"error": "The access token is invalid"}
    wrong = requests.post(
        f"{md.url}/api/v1/statuses", data={"status": "x"}, headers={"Authorization": "Bearer nope"}, timeout=5
    )
    assert wrong.status_code == 401
    assert md.statuses == []
    assert all(TOKEN not in str(dict(r.headers)) for r in md.requests)
    assert TOKEN not in repr(md)


def test_rate_limit_headers_and_exhausted_budget() -> None:
    with FakeMastodon(token=TOKEN, rate_limit=2) as md:
        first = requests.get(f"{md.url}/api/v1/instance", headers=AUTH, timeout=5)
        assert first.headers["X-RateLimit-Limit"] == "2"
        assert first.headers["X-RateLimit-Remaining"] == "1"
        reset = datetime.fromisoformat(first.headers["X-RateLimit-Reset"].replace("Z", "+00:00"))
        assert reset > datetime.now(UTC)
        client(md).account_verify_credentials()
        with pytest.raises(MastodonRatelimitError):
            client(md).account_verify_credentials()
        refused = requests.get(f"{md.url}/api/v1/instance", headers=AUTH, timeout=5)
        assert refused.status_code == 429
        assert refused.json() == {"error": "Too many requests"}
        assert refused.headers["X-RateLimit-Remaining"] == "0"
        md.reset_rate_limit()
        assert client(md).account_verify_credentials().bot is True


def test_injected_rate_limit_throws_then_recovers(md: FakeMastodon, api: Mastodon) -> None:
    md.rate_limited(reset_in=2.0, times=1)
    with pytest.raises(MastodonRatelimitError):
        api.status_post("limited")
    assert md.statuses == []
    md.rate_limited(reset_in=30.0)
    answer = requests.get(f"{md.url}/api/v1/instance", timeout=5)
    assert answer.status_code == 429
    assert answer.headers["X-RateLimit-Remaining"] == "0"
    reset = datetime.fromisoformat(answer.headers["X-RateLimit-Reset"].replace("Z", "+00:00"))
    assert 20 < (reset - datetime.now(UTC)).total_seconds() <= 30
    assert api.status_post("now fine").content == "<p>now fine</p>"


def test_idempotency_key_returns_the_same_status(md: FakeMastodon, api: Mastodon) -> None:
    first = api.status_post("Bonjour #Relais", idempotency_key="campaign-1-post-1")
    again = api.status_post("Bonjour #Relais", idempotency_key="campaign-1-post-1")
    other = api.status_post("Bonjour #Relais", idempotency_key="campaign-1-post-2")
    assert str(again.id) == str(first.id)
    assert str(other.id) != str(first.id)
    assert int(other.id) > int(first.id)
    assert [s["id"] for s in md.statuses] == [str(first.id), str(other.id)]
    keys = [r.idempotency_key for r in md.requests if r.path == "/api/v1/statuses"]
    assert keys == ["campaign-1-post-1", "campaign-1-post-1", "campaign-1-post-2"]


def test_status_entity_html_tags_and_mentions(md: FakeMastodon, api: Mastodon) -> None:
    url = "https://example.com/a/rather/long/path/to/an/article"
    status = api.status_post(
        f"Salut @bob@example.org <b>!</b>\n{url} #Relais #relais\n\nFin",
        visibility="unlisted",
        language="fr",
        spoiler_text="CW",
    )
    assert status.content.startswith('<p>Salut <span class="h-card"')
    assert "&lt;b&gt;!&lt;/b&gt;<br />" in status.content
    assert f'<a href="{url}"' in status.content
    assert '<span class="ellipsis">example.com/a/rather/long/path</span>' in status.content
    assert status.content.endswith("</p><p>Fin</p>")
    assert [t.name for t in status.tags] == ["relais"]
    assert [m.acct for m in status.mentions] == ["bob@example.org"]
    assert (status.visibility, status.language, status.spoiler_text) == ("unlisted", "fr", "CW")
    assert status.sensitive is True
    assert status.edited_at is None
    assert status.account.acct == "relais"
    assert status.url == f"{md.url}/@relais/{status.id}"
    assert md.requests[-1].params["visibility"] == "unlisted"


def test_media_upload_then_status_with_media(md: FakeMastodon, api: Mastodon) -> None:
    media = api.media_post(PNG, mime_type="image/png", description="Affiche", focus=(0.5, -0.5))
    assert (media.type, media.description) == ("image", "Affiche")
    assert media.url.startswith(md.url)
    assert md.media_file(str(media.id)) == PNG
    updated = api.media_update(media, description="Affiche de la campagne")
    assert updated.description == "Affiche de la campagne"
    status = api.status_post("Avec image", media_ids=[media])
    assert [str(m.id) for m in status.media_attachments] == [str(media.id)]
    assert status.media_attachments[0].description == "Affiche de la campagne"
    with pytest.raises(MastodonAPIError, match="already attached"):
        api.status_post("Encore", media_ids=[media])
    image_only = api.status_post("", media_ids=[api.media_post(PNG, mime_type="image/png")])
    assert len(image_only.media_attachments) == 1


def test_async_media_processing(md: FakeMastodon, api: Mastodon) -> None:
    md.async_media = True
    media = api.media_post(PNG, mime_type="image/png")
    assert media.url is None
    assert requests.get(f"{md.url}/api/v1/media/{media.id}", headers=AUTH, timeout=5).status_code == 206
    with pytest.raises(MastodonAPIError, match="not finished processing"):
        api.status_post("trop tôt", media_ids=[media])
    md.finish_media_processing(str(media.id))
    assert api.media(media).url.endswith(".png")


def test_character_counting_the_mastodon_way() -> None:
    assert count_characters("see https://example.com/" + "x" * 200) == 4 + 23
    assert count_characters("@someone@a.very.long.domain.example hi") == len("@someone hi")
    assert count_characters("abc", spoiler_text="CW") == 5
    assert grapheme_length("👩‍👩‍👧 🇫🇷🇩🇪 e\u0301 👍🏽") == 8


def test_length_and_blank_validation(md: FakeMastodon, api: Mastodon) -> None:
    assert api.status_post("é" * 500).content == f"<p>{'é' * 500}</p>"
    long_url = "https://example.com/" + "p" * 600
    assert api.status_post("x" * 476 + " " + long_url).id
    with pytest.raises(MastodonAPIError) as too_long:
        api.status_post("x" * 501)
    assert too_long.value.args[1] == 422
    assert too_long.value.args[3] == "Validation failed: Text character limit of 500 exceeded"
    with pytest.raises(MastodonAPIError, match="character limit"):
        api.status_post("x" * 499, spoiler_text="CW")
    with pytest.raises(MastodonAPIError, match="Text can't be blank"):
        api.status_post("   ")
    assert len(md.statuses) == 2


def test_injected_server_errors(md: FakeMastodon, api: Mastodon) -> None:
    md.fail(path="/api/v1/statuses", status=500, times=2)
    for _ in range(2):
        with pytest.raises(MastodonInternalServerError):
            api.status_post("retry me", idempotency_key="k")
    assert md.statuses == []
    assert api.status_post("retry me", idempotency_key="k").id
    assert [r.status for r in md.requests] == [500, 500, 200]


@pytest.mark.slow
def test_tag_timeline_pages_forward_with_min_id(md: FakeMastodon, api: Mastodon) -> None:
    markup = '<a href="https://example.org/tags/relais" class="mention hashtag">#<span>Relais</span></a>'
    expected = [md.add_remote_status(content_html=f"<p>n°{i} {markup}</p>")["id"] for i in range(120)]
    md.add_remote_status(content_html="<p>#autre</p>")
    md.add_remote_status(content_html="<p>#relais</p>", visibility="unlisted")

    page = api.timeline_hashtag("RELAIS", min_id=0, limit=40)
    seen: list[str] = []
    for _ in range(3):
        ids = [str(s.id) for s in page]
        assert len(ids) == 40
        assert ids == sorted(ids, key=int, reverse=True)  # newest first, as documented
        seen.extend(reversed(ids))
        page = api.fetch_previous(page)
    assert not page
    assert seen == expected

    newest = requests.get(f"{md.url}/api/v1/timelines/tag/relais", params={"since_id": 0}, timeout=5).json()
    assert [s["id"] for s in newest] == expected[::-1][:20]

    link = f"{md.url}/api/v1/timelines/tag/Relais?limit=40&min_id=0"
    pages: list[list[str]] = []
    while True:
        answer = requests.get(link, headers=AUTH, timeout=5)
        if not answer.json():
            assert "Link" not in answer.headers
            break
        ids = [s["id"] for s in answer.json()]
        pages.append(ids)
        assert answer.links["next"]["url"].endswith(f"max_id={ids[-1]}")
        assert "limit=40" in answer.links["next"]["url"]
        link = answer.links["prev"]["url"]
        assert link.endswith(f"min_id={ids[0]}")
    assert [i for p in pages for i in reversed(p)] == expected

    older = requests.get(
        f"{md.url}/api/v1/timelines/tag/relais", params={"max_id": expected[50], "limit": 100}, timeout=5
    ).json()
    assert [s["id"] for s in older] == expected[10:50][::-1]


def test_notifications_filtered_by_type(md: FakeMastodon, api: Mastodon) -> None:
    post = api.status_post("Répondez avec #Relais")
    reply = md.add_remote_status(
        content_html="<p>@relais oui #Relais</p>", in_reply_to_id=str(post.id), mentions=["relais"]
    )
    md.add_notification("favourite", account="carol@example.net", status=str(post.id))
    mention = md.add_mention_notification(reply)
    notes = api.notifications(types=["mention"])
    assert [str(n.id) for n in notes] == [mention["id"]]
    assert str(notes[0].status.id) == reply["id"]
    assert str(notes[0].status.in_reply_to_id) == str(post.id)
    assert notes[0].account.acct == "alice@example.org"
    assert {n.type for n in api.notifications(types=["mention", "favourite"])} == {"mention", "favourite"}
    raw = requests.get(
        f"{md.url}/api/v1/notifications", params={"types[]": "mention"}, headers=AUTH, timeout=5
    )
    assert "types%5B%5D=mention" in raw.links["next"]["url"]


def test_status_context_and_test_side_edits(md: FakeMastodon, api: Mastodon) -> None:
    root = api.status_post("Question #Relais")
    first = md.add_remote_status(content_html="<p>A</p>", in_reply_to_id=str(root.id))
    nested = md.add_remote_status(
        account="bob@example.com", content_html="<p>A.1</p>", in_reply_to_id=first["id"]
    )
    second = md.add_remote_status(content_html="<p>B</p>", in_reply_to_id=str(root.id))
    context = api.status_context(root)
    assert [str(s.id) for s in context.descendants] == [first["id"], nested["id"], second["id"]]
    assert context.ancestors == []
    ancestors = api.status_context(nested["id"]).ancestors
    assert [str(s.id) for s in ancestors] == [str(root.id), first["id"]]
    assert api.status(root).replies_count == 2

    md.edit_status(first["id"], "<p>A, corrigé #Relais</p>")
    edited = api.status(first["id"])
    assert edited.content == "<p>A, corrigé #Relais</p>"
    assert edited.edited_at is not None
    assert [t.name for t in edited.tags] == ["relais"]
    assert api.status_favourite(second["id"]).favourites_count == 1
    assert api.status_favourite(second["id"]).favourites_count == 1  # favouriting twice is harmless
    assert md.favourite_requests == [second["id"], second["id"]]
    md.delete_status(nested["id"])
    with pytest.raises(MastodonNotFoundError):
        api.status(nested["id"])
    assert len(api.status_context(root).descendants) == 2


@pytest.mark.slow
def test_delay_times_out_but_status_exists_and_retry_is_idempotent(md: FakeMastodon) -> None:
    impatient = client(md, request_timeout=0.5)
    md.delay(seconds=30.0, times=1)
    with pytest.raises(MastodonNetworkError):
        impatient.status_post("Lent", idempotency_key="slow-1")
    assert md.wait_for(lambda: len(md.statuses) == 1, timeout=5)
    retry = impatient.status_post("Lent", idempotency_key="slow-1")
    assert str(retry.id) == md.statuses[0]["id"]
    assert len(md.statuses) == 1


def test_dropped_connection_and_malformed_answer(md: FakeMastodon, api: Mastodon) -> None:
    md.drop_after_receive(times=1)
    with pytest.raises(MastodonNetworkError):
        api.status_post("Perdu", idempotency_key="drop-1")
    again = api.status_post("Perdu", idempotency_key="drop-1")
    assert str(again.id) == md.statuses[0]["id"]
    md.malformed(times=1, path="/api/v1/statuses")
    with pytest.raises(MastodonAPIError, match="Could not parse response as JSON"):
        api.status_post("Mal formé")
    assert len(md.statuses) == 2
    assert [r.status for r in md.requests] == [None, 200, 200]


def test_wait_for_wakes_on_requests_from_another_thread(md: FakeMastodon, api: Mastodon) -> None:
    poster = threading.Thread(target=api.status_post, args=("depuis un thread",))
    poster.start()
    assert md.wait_for(lambda: any(r.status == 200 for r in md.requests), timeout=5)
    poster.join(5)
    assert md.statuses[0]["content"] == "<p>depuis un thread</p>"
    assert md.wait_for(lambda: False, timeout=0.05) is False
