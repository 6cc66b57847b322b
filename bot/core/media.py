"""Media files, checked for what they are against what each network takes.

The file's content decides (Pillow reads its header and checks its structure), never
its name: a text file named ``.jpg`` is not an image. The limits are the networks' own:

- Telegram ``sendPhoto``: at most 10 MB, width + height at most 10000, the longer side
  at most 20 times the shorter.
- Mastodon (4.x defaults, ``instance.configuration.media_attachments``): at most 16 MB
  (``image_size_limit``) and 33,177,600 pixels, i.e. 7680x4320 (``image_matrix_limit``);
  a GIF at most 921,600 pixels (1280x720). Larger images than 3840x2160 are accepted and
  scaled down by the server.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from bot.domain import Network

MB = 1024 * 1024
FORMATS = ("JPEG", "PNG", "GIF", "WEBP")  # what both networks take as a photo or an image
TELEGRAM_BYTES = 10 * MB
TELEGRAM_SIDES = 10_000  # width + height
TELEGRAM_RATIO = 20
MASTODON_BYTES = 16 * MB
MASTODON_PIXELS = 33_177_600  # 7680x4320
MASTODON_GIF_PIXELS = 921_600  # 1280x720
_FIX_BYTES = "make it smaller (save it as JPEG, or resize it)"


class MediaProblem(ValueError):
    """A file that is no image the networks take; the message says why and what to do."""


@dataclass(frozen=True)
class ImageInfo:
    format: str  # Pillow's name: JPEG, PNG, GIF, WEBP, BMP…
    size: int  # bytes
    width: int
    height: int


def inspect(path: Path, shown: str) -> ImageInfo:
    """What the file at ``path`` (shown to users as ``shown``) really is; raises ``MediaProblem``."""
    info = path.stat()
    return _inspect(path, info.st_size, info.st_mtime_ns, shown)


@lru_cache(maxsize=256)
def _inspect(path: Path, size: int, mtime_ns: int, shown: str) -> ImageInfo:
    """Cached by size and modification time: a file used by many publications is read once."""
    from PIL import Image, UnidentifiedImageError  # (here: most campaigns load with no media)

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                kind, width, height = image.format or "?", image.width, image.height
                image.verify()
    except UnidentifiedImageError:
        raise MediaProblem(
            f"{shown} is not an image: its content is not JPEG, PNG, GIF or WebP, whatever its name says; "
            "save it as JPEG or PNG"
        ) from None
    except Image.DecompressionBombError:
        raise MediaProblem(f"{shown} has far too many pixels for any network; resize it") from None
    except (OSError, SyntaxError, ValueError):  # Pillow's ways of saying the data is broken
        raise MediaProblem(
            f"{shown} cannot be read as a {kind} image (it may be damaged or cut short); export it again"
        ) from None
    if kind not in FORMATS:
        raise MediaProblem(
            f"{shown} is a {kind} image; Telegram and Mastodon take JPEG, PNG, GIF or WebP: "
            "save it as JPEG or PNG"
        )
    return ImageInfo(kind, size, width, height)


def problems(info: ImageInfo, network: Network, shown: str) -> list[str]:
    """What ``network`` would refuse in this image, each with what to do."""
    found = []
    w, h = info.width, info.height
    if network is Network.TELEGRAM:
        if info.size > TELEGRAM_BYTES:
            found.append(
                f"{shown} is {info.size / MB:.1f} MB; Telegram takes photos of at most 10 MB: {_FIX_BYTES}"
            )
        if w + h > TELEGRAM_SIDES:
            found.append(
                f"{shown} is {w}x{h} pixels; Telegram takes photos whose width and height add up to at "
                f"most {TELEGRAM_SIDES}: resize it"
            )
        elif max(w, h) > TELEGRAM_RATIO * min(w, h):
            found.append(
                f"{shown} is {w}x{h} pixels; Telegram takes photos at most {TELEGRAM_RATIO} times as wide "
                "as they are tall (or as tall as wide): crop it"
            )
    else:
        if info.size > MASTODON_BYTES:
            found.append(
                f"{shown} is {info.size / MB:.1f} MB; Mastodon takes images of at most 16 MB: {_FIX_BYTES}"
            )
        if info.format == "GIF" and w * h > MASTODON_GIF_PIXELS:
            found.append(
                f"{shown} is a {w}x{h} GIF; Mastodon takes GIFs of at most 1280x720 pixels: resize it, "
                "or save it as PNG"
            )
        elif w * h > MASTODON_PIXELS:
            found.append(
                f"{shown} is {w}x{h} pixels ({w * h / 1e6:.1f} megapixels); Mastodon takes images of at "
                "most 33.2 megapixels (7680x4320): resize it"
            )
    return found
