"""How long `relais validate` and `relais plan --format json` take on a big campaign.

Generates 10,000 publications (4,000 posts and 250 livestreams with 4 reminders, each
to two channels) in five campaign files, then times, in one run:

- the bare parse: every file through PyYAML's C loader (``yaml.load(..., CSafeLoader)``);
- validate: ``load_campaigns`` (parse with positions, schema, times, templates, lengths);
- plan: validate plus the JSON document of ``relais plan --format json``;
- the same two as the commands a user runs (``relais validate`` / ``relais plan``,
  process start-up included).

Targets (issue "Campaigns as code"): validate + plan at most 3x the bare parse, and
under 2 s for the 10,000 publications.

    .venv/bin/python benchmarks/campaign_load.py [--repeat 5]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

import yaml

from bot.core.campaigns import load_campaigns
from bot.domain import PublicationState
from bot.services.documents import plan_document

FILES = 5
POSTS_PER_FILE = 800
LIVESTREAMS_PER_FILE = 50

ANNONCE = """**{{ titre }}**

{{ resume }} Publié le {{ at|datetime }}.

[Lire la suite]({{ lien }}) {{ hashtag }}
"""
RAPPEL = """{% if live %}**En direct** : {% else %}{{ relative|capitalize }} : {% endif %}{{ title }}
{{ starts|datetime }}, {{ where }}. [Suivre la diffusion]({{ url }}) {{ hashtag }}
"""


def generate(root: Path) -> None:
    (root / "schedules").mkdir()
    (root / "messages").mkdir()
    (root / "messages" / "annonce.fr.md").write_text(ANNONCE, encoding="utf-8")
    (root / "messages" / "rappel.fr.md").write_text(RAPPEL, encoding="utf-8")
    start = datetime(2030, 1, 7, 9, 0)
    for f in range(FILES):
        lines = [
            f"campaign: campagne-{f}",
            "timezone: America/Montreal",
            "language: fr-CA",
            "hashtags: [gautrinweb2]",
            "channels:",
            '  annonces-telegram: {network: telegram, chat: "@GautrinWeb2"}',
            "  mastodon: {network: mastodon, visibility: public}",
            "posts:",
        ]
        for i in range(POSTS_PER_FILE):
            at = start + timedelta(days=i // 3, hours=3 * (i % 3) + f)  # 09:00 to 19:00
            lines += [
                f"  - id: annonce-{i}",
                f"    at: {at:%Y-%m-%d %H:%M}",
                "    message: annonce",
                "    vars:",
                f'      titre: "Annonce numéro {i} de la campagne {f}"',
                f'      resume: "Le rapport « Gouverner ensemble » présente {i % 40} recommandations '
                'sur la transparence, la participation et la collaboration."',
                f'      lien: "https://example.org/campagne-{f}/annonce-{i}"',
            ]
        lines.append("livestreams:")
        for i in range(LIVESTREAMS_PER_FILE):
            starts = start + timedelta(days=3 * i + 1, hours=4 + f)
            lines += [
                f"  - id: diffusion-{i}",
                f'    title: "Diffusion en direct numéro {i}"',
                f"    starts: {starts:%Y-%m-%d %H:%M}",
                f"    ends: {starts + timedelta(hours=2):%Y-%m-%d %H:%M}",
                "    where: Assemblée nationale",
                f'    url: "https://example.org/direct/{f}/{i}"',
                "    remind: [1d, 1h, 10m, start]",
                "    message: rappel",
            ]
        (root / "schedules" / f"campagne-{f}.yaml").write_text("\n".join(lines) + "\n", encoding="utf-8")


def timed(function) -> tuple[float, object]:
    began = time.perf_counter()
    result = function()
    return time.perf_counter() - began, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    repeat = parser.parse_args().repeat
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        generate(root)
        os.chdir(root)
        files = sorted((root / "schedules").glob("*.yaml"))
        size = sum(f.stat().st_size for f in files)

        def bare_parse() -> int:
            return sum(
                len(yaml.load(f.read_text(encoding="utf-8"), Loader=yaml.CSafeLoader)["posts"]) for f in files
            )

        def validate():
            result = load_campaigns([Path("schedules")], Path("messages"))
            assert result.ok, result.problems[:3]
            return result

        def plan() -> str:
            result = validate()
            rows = sorted(
                (p for c in result.campaigns for p in c.publications),
                key=lambda p: (p.at, p.campaign, p.id, p.channel.name),
            )
            states = dict.fromkeys((p.key for p in rows), PublicationState.PENDING)
            return json.dumps(plan_document(rows, states), ensure_ascii=False)

        count = sum(len(c.publications) for c in validate().campaigns)
        runs: dict[str, list[float]] = {"bare parse": [], "validate": [], "plan --format json": []}
        for _ in range(repeat):
            runs["bare parse"].append(timed(bare_parse)[0])
            runs["validate"].append(timed(validate)[0])
            runs["plan --format json"].append(timed(plan)[0])

        relais = str(Path(sys.executable).with_name("relais"))
        commands = {}
        for name, argv in {
            "relais validate": [relais, "validate"],
            "relais plan --format json": [relais, "plan", "--format", "json"],
        }.items():
            times = []
            for _ in range(max(1, repeat // 2)):
                began = time.perf_counter()
                subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)
                times.append(time.perf_counter() - began)
            commands[name] = min(times)

    print(f"{count} publications in {len(files)} files ({size / 1024:.0f} kB of YAML), best of {repeat}:")
    best = {name: min(values) for name, values in runs.items()}
    for name, value in best.items():
        median = statistics.median(runs[name])
        print(f"  {name:<22} {value * 1000:8.1f} ms  (median {median * 1000:.1f} ms)")
    both = best["validate"] + best["plan --format json"]
    print(f"  validate + plan        {both * 1000:8.1f} ms")
    print(f"  ratio (validate + plan) / bare parse: {both / best['bare parse']:.2f}x  (target <= 3x)")
    print(f"  ratio plan / bare parse:              {best['plan --format json'] / best['bare parse']:.2f}x")
    print("as commands (process start-up and imports included), best run:")
    for name, value in commands.items():
        print(f"  {name:<26} {value * 1000:8.1f} ms")
    print(f"  total {sum(commands.values()) * 1000:.1f} ms  (target < 2000 ms)")


if __name__ == "__main__":
    main()
