"""Checks shared by the settings of Relais and of its networks (``Profile.settings``): each
refuses a value with a message naming the fix, never repeating the value (it may be a secret)."""

from __future__ import annotations

import ipaddress
import re
from typing import Any
from urllib.parse import urlsplit

from pydantic import SecretStr

_HOST = re.compile(r"[A-Za-z0-9_](?:[A-Za-z0-9_.-]*[A-Za-z0-9_])?")  # "_": container names


def plain(value: Any) -> str:
    """A setting's value as text, a secret's included."""
    return value.get_secret_value() if isinstance(value, SecretStr) else str(value)


def server_url(value: str, fix: str) -> str:
    """An http(s) server's address, without a trailing slash; refused with ``fix`` when it
    is anything more (a path, a query, credentials) or less (no host)."""
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises on a port out of range
    except ValueError:
        raise ValueError(fix) from None
    host = parts.hostname or ""
    if (
        parts.scheme not in ("http", "https")
        or not _valid_host(host)
        or "@" in parts.netloc
        or parts.path not in ("", "/")
        or "?" in value
        or "#" in value
    ):
        raise ValueError(fix)
    return f"{parts.scheme}://{parts.netloc}"


def _valid_host(host: str) -> bool:
    """A host name (internationalised ones too) or an IP address."""
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        pass
    try:
        return bool(_HOST.fullmatch(host.encode("idna").decode("ascii")))
    except UnicodeError:
        return False
