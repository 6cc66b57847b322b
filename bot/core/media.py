"""Media files, checked for what they are against what each network takes.

The file's content decides (Pillow reads its header and checks its structure), never
its name: a text file named ``.jpg`` is not an image. The limits are the networks' own,
written in their profiles (``bot.networks``).
"""

from __future__ import annotations

import warnings
from functools import lru_cache
from pathlib import Path

from bot import networks
from bot.networks import ImageInfo

FORMATS = ("JPEG", "PNG", "GIF", "WEBP")  # what every network takes as a photo or an image


class MediaProblem(ValueError):
    """A file that is no image the networks take; the message says why and what to do."""


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
            f"{shown} is a {kind} image; {networks.titles()} take JPEG, PNG, GIF or WebP: "
            "save it as JPEG or PNG"
        )
    return ImageInfo(kind, size, width, height)


def problems(info: ImageInfo, network: str, shown: str) -> list[str]:
    """What ``network`` would refuse in this image, each with what to do."""
    return networks.profile(network).image_problems(info, shown)
