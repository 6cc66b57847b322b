"""``relais web --demo``: a throwaway store holding replies to the sample campaign, in
French and English, some held for review by the campaign's own rules, some hostile, and a
demo login. Nothing reaches a network."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from bot.domain import Campaign, Reply
from bot.services.accounts import Accounts
from bot.services.moderation import auto_flags
from bot.store.comments import Collected, CommentStore

DEMO_LOGIN = ("demo", "demo-moderation")

AUTHORS = [
    ("alice", "Alice Tremblay", "mastodon"),
    ("benoit", "Benoît Gagnon", "telegram"),
    ("chloe", "Chloé Roy", "mastodon"),
    ("david", "David Côté", "telegram"),
    ("emma", "Emma Wilson", "mastodon"),
    ("farid", "Farid Haddad", "mastodon"),
    ("grace", "Grace Li", "telegram"),
    ("spam4u", "Best Deals", "mastodon"),
]
TEXTS = [
    ("fr", "Bravo pour le rapport ! Enfin des données ouvertes au gouvernement. #gautrinweb2"),
    ("fr", "Est-ce que la conférence de presse sera rediffusée ?\nJe travaille à 13 h 30."),
    ("en", "Great initiative. Will the report be available in English too? #gautrinweb2"),
    ("fr", "Je ne suis pas d’accord avec la recommandation 12 : trop vague."),
    ("en", "Open data is only useful if it is kept up to date. #gautrinweb2"),
    ("fr", "Merci pour la diffusion en direct, très instructif !"),
    ("fr", "Voir mon analyse complète : https://exemple.org/analyse #gautrinweb2"),
    ("en", "WIN BIG at our casino!!! #gautrinweb2"),
    ("fr", "Les fonctionnaires ont-ils été consultés ? #gautrinweb2"),
    ("en", "<script>alert('pwned')</script> just testing your page #gautrinweb2"),
    ("fr", "Le Web 2.0 au service des citoyens : il était temps. #gautrinweb2"),
    ("en", "How can municipalities take part in the consultation?"),
    ("fr", "Une question : où trouver le sondage ? #gautrinweb2"),
    ("fr", "\u202etxet revne\u202c — un texte qui se lit à l’envers #gautrinweb2"),
    ("en", "Thanks for the livestream, the Q&A was the best part."),
]


def seed(store: CommentStore, campaigns: Sequence[Campaign], now: datetime, count: int = 60) -> int:
    """Store ``count`` replies to the campaigns' posts, dated over the last days; returns
    how many were stored."""
    targets = [(c, p) for c in campaigns for p in c.publications]
    collected = []
    start = now - timedelta(days=3)
    for i in range(count):
        language, text = TEXTS[i % len(TEXTS)]
        handle, name, network = AUTHORS[(i * 5) % len(AUTHORS)]
        if network == "mastodon":
            at_handle, url = f"@{handle}@exemple.social", f"https://exemple.social/@{handle}/{1000 + i}"
        else:
            at_handle, url = f"@{handle}_qc", f"https://t.me/GautrinWeb2/{1000 + i}"
        reply = Reply(
            network,
            str(1000 + i),
            text if i < len(TEXTS) else f"{text} ({i})",
            start + timedelta(minutes=67 * i),
            f"{network}-{handle}",
            at_handle,
            name,
            url=url,
            language=language,
            hashtags=("gautrinweb2",),
            private=i % 23 == 22,
        )
        campaign, post = targets[i % len(targets)] if targets else (None, None)
        flags = auto_flags(reply, campaign.moderation, repeated=False) if campaign else ()
        collected.append(
            Collected(reply, campaign.slug if campaign else None, post.key if post else None, flags)
        )
    store.save_page(None, None, collected, now=now)
    return len(collected)


def demo_account(accounts: Accounts) -> tuple[str, str]:
    name, password = DEMO_LOGIN
    accounts.add(name, password, admin=True)
    return DEMO_LOGIN


def demo_now() -> datetime:
    return datetime.now(UTC)
