"""``relais plan``'s table, as a user reads it (written without rich's Table since it took
12 s to lay out 10,000 publications)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import BASE, Project

pytestmark = pytest.mark.slow  # out of the fast lane: processes, servers or many examples per test


def test_the_table_has_a_line_per_publication_with_the_text_cut_to_fit(project: Project) -> None:
    project.campaign(
        BASE
        + """\
posts:
  - {id: court, at: 2030-05-02 09:00, text: "Bonjour {{ hashtag }}", to: masto}
  - {id: long, at: 2030-05-02 10:30, text: "**Un texte** 日本語の文字は二つの幅 bien plus long que la colonne, qui est coupée à soixante, 日本語"}
"""
    )
    result = subprocess.run(
        [sys.executable, "-m", "bot", "plan"],
        cwd=project.root,
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", "HOME": str(project.root)},
    )
    assert result.returncode == 0, result.stderr
    # Piped: every column, the local time with its offset, nothing padded at the end of a line.
    assert result.stdout.splitlines() == [
        "local time              UTC               campaign  publication  channel  state     length  text",
        "2030-05-02 09:00-04:00  2030-05-02 13:00  essai     court        masto    pending   20/500  Bonjour #gautrinweb2",
        "2030-05-02 10:30-04:00  2030-05-02 14:30  essai     long         masto    pending   82/500  Un texte 日本語の文字は二つの幅 bien plus long que la colon…",
        "2030-05-02 10:30-04:00  2030-05-02 14:30  essai     long         tg       pending  82/4096  <b>Un texte</b> 日本語の文字は二つの幅 bien plus long que l…",
        "3 publications",
    ]
