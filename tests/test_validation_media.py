"""Media files are checked for what they are (read with Pillow, not judged by their name)
against what Telegram and Mastodon take, and must stay inside the campaign repository."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image

from tests.conftest import BASE, Project

MB = 1024 * 1024


def image(
    path: Path, size: tuple[int, int] = (40, 30), kind: str = "PNG", mode: str = "RGB", pad: int = 0
) -> Path:
    """A real image file; ``pad`` bytes appended make it that much bigger (decoders skip them)."""
    buffer = io.BytesIO()
    Image.new(mode, size).save(buffer, kind)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(buffer.getvalue() + b"\0" * pad)
    return path


def post(file: str, to: str = "[tg, masto]") -> str:
    return (
        BASE
        + f"posts:\n  - {{id: un, at: 2012-05-02 09:00, text: a, to: {to}, media: [{{file: {file}, alt: A}}]}}\n"
    )


COLUMN = 77  # where the file name starts in post()'s line (with the default to:)


def test_a_real_image_passes(project: Project) -> None:
    image(project.root / "schedules" / "media" / "affiche.png")
    image(project.root / "schedules" / "photo.jpg", kind="JPEG")
    project.campaign(post("media/affiche.png"))
    assert project.problems() == []
    project.campaign(post("photo.jpg"))
    assert project.problems() == []


def test_a_text_file_named_like_an_image_is_refused(project: Project) -> None:
    (project.root / "schedules" / "faux.jpg").write_text("pas une image\n", encoding="utf-8")
    project.campaign(post("faux.jpg"))
    assert project.problems() == [
        f"schedules/c.yaml:9:{COLUMN}: schedules/faux.jpg is not an image: its content is not JPEG, PNG, "
        "GIF or WebP, whatever its name says; save it as JPEG or PNG",
    ]


def test_an_image_format_the_networks_do_not_take(project: Project) -> None:
    image(project.root / "schedules" / "carte.bmp", kind="BMP")
    project.campaign(post("carte.bmp"))
    assert project.problems() == [
        f"schedules/c.yaml:9:{COLUMN}: schedules/carte.bmp is a BMP image; Telegram and Mastodon take "
        "JPEG, PNG, GIF or WebP: save it as JPEG or PNG",
    ]


def test_a_damaged_image(project: Project) -> None:
    good = image(project.root / "schedules" / "coupee.png").read_bytes()
    (project.root / "schedules" / "coupee.png").write_bytes(good[:-20])
    project.campaign(post("coupee.png"))
    assert project.problems() == [
        f"schedules/c.yaml:9:{COLUMN}: schedules/coupee.png cannot be read as a PNG image (it may be "
        "damaged or cut short); export it again",
    ]


@pytest.mark.parametrize(
    ("size", "to", "message"),
    [
        (
            (9000, 1001),
            "[tg]",
            "schedules/big.png is 9000x1001 pixels; Telegram takes photos whose width and height "
            "add up to at most 10000: resize it",
        ),
        (
            (4200, 200),
            "[tg]",
            "schedules/big.png is 4200x200 pixels; Telegram takes photos at most 20 times as wide "
            "as they are tall (or as tall as wide): crop it",
        ),
        (
            (8000, 4200),
            "[masto]",
            "schedules/big.png is 8000x4200 pixels (33.6 megapixels); Mastodon takes images of at "
            "most 33.2 megapixels (7680x4320): resize it",
        ),
    ],
)
def test_pixel_dimensions_each_network_refuses(
    project: Project, size: tuple[int, int], to: str, message: str
) -> None:
    image(project.root / "schedules" / "big.png", size=size, mode="1")
    project.campaign(post("big.png", to))
    assert project.problems() == [f"schedules/c.yaml:9:{COLUMN - 11 + len(to)}: {message}"]


def test_the_same_image_may_suit_one_network_and_not_the_other(project: Project) -> None:
    image(project.root / "schedules" / "big.png", size=(8000, 4200), mode="1")
    project.campaign(post("big.png", "[tg]"))  # 12200 > 10000 for Telegram
    assert len(project.problems()) == 1
    image(project.root / "schedules" / "wide.png", size=(7000, 2000), mode="1")
    project.campaign(post("wide.png", "[masto]"))  # 14 MP: fine for Mastodon
    assert project.problems() == []


def test_file_sizes_each_network_refuses(project: Project) -> None:
    image(project.root / "schedules" / "lourde.jpg", kind="JPEG", pad=11 * MB)
    project.campaign(post("lourde.jpg"))
    assert project.problems() == [
        f"schedules/c.yaml:9:{COLUMN}: schedules/lourde.jpg is 11.0 MB; Telegram takes photos of at most "
        "10 MB: make it smaller (save it as JPEG, or resize it)",
    ]
    image(project.root / "schedules" / "lourde.jpg", kind="JPEG", pad=17 * MB)
    assert project.problems() == [
        f"schedules/c.yaml:9:{COLUMN}: schedules/lourde.jpg is 17.0 MB; Mastodon takes images of at most "
        "16 MB: make it smaller (save it as JPEG, or resize it)",
        f"schedules/c.yaml:9:{COLUMN}: schedules/lourde.jpg is 17.0 MB; Telegram takes photos of at most "
        "10 MB: make it smaller (save it as JPEG, or resize it)",
    ]


def test_mastodon_takes_smaller_gifs(project: Project) -> None:
    image(project.root / "schedules" / "anim.gif", size=(1281, 720), kind="GIF", mode="L")
    project.campaign(post("anim.gif", "[masto]"))
    assert project.problems() == [
        f"schedules/c.yaml:9:{COLUMN - 4}: schedules/anim.gif is a 1281x720 GIF; Mastodon takes GIFs of at "
        "most 1280x720 pixels: resize it, or save it as PNG",
    ]


def test_media_may_not_leave_the_campaign_repository(
    project: Project, tmp_path_factory: pytest.TempPathFactory
) -> None:
    outside = image(tmp_path_factory.mktemp("ailleurs") / "secret.png")
    image(project.root / "media" / "logo.png")  # beside schedules/: inside the repository
    (project.root / "schedules" / "lien.png").symlink_to(outside)
    (project.root / "schedules" / "lien-interne.png").symlink_to(project.root / "media" / "logo.png")
    project.campaign(
        BASE
        + f"""\
posts:
  - id: un
    at: 2012-05-02 09:00
    text: a
    media:
      - {{file: /etc/hostname, alt: A}}
      - {{file: {outside}, alt: A}}
      - {{file: ../../../etc/hostname, alt: A}}
      - {{file: lien.png, alt: A}}
  - {{id: deux, at: 2012-05-02 09:00, text: a, media: [{{file: ../media/logo.png, alt: A}}]}}
  - {{id: trois, at: 2012-05-02 09:00, text: a, media: [{{file: lien-interne.png, alt: A}}]}}
"""
    )
    assert project.problems() == [
        "schedules/c.yaml:13:16: '/etc/hostname' is an absolute path; write the path from the "
        "campaign file's directory, e.g. media/affiche.jpg, and keep the file in the campaign repository",
        f"schedules/c.yaml:14:16: '{outside}' is an absolute path; write the path from the "
        "campaign file's directory, e.g. media/affiche.jpg, and keep the file in the campaign repository",
        "schedules/c.yaml:15:16: '../../../etc/hostname' leads outside the campaign repository (the "
        "directory that holds schedules/); keep media files inside it",
        "schedules/c.yaml:16:16: 'lien.png' is a link to a file outside the campaign repository (the "
        "directory that holds schedules/); copy the file into the repository instead",
    ]


def test_a_missing_file_says_where_it_was_looked_for(project: Project) -> None:
    project.campaign(post("absente.jpg"))
    assert project.problems() == [
        f"schedules/c.yaml:9:{COLUMN}: media file not found: schedules/absente.jpg (paths are relative "
        "to the campaign file)",
    ]
