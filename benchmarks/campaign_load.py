"""How long `relais validate` and `relais plan --format json` take on a big campaign.

Generates 10,000 publications (4,000 posts and 250 livestreams with 4 reminders, each
to two channels) in five campaign files, then times, in one run:

- the bare parse: every file through PyYAML's C loader (``yaml.load(..., CSafeLoader)``);
- validate: ``load_campaigns`` (parse with positions, schema, times, templates, lengths);
- plan: validate plus the JSON document of ``relais plan --format json`` (it loads again);
- the same two as the commands a user runs (``relais validate`` / ``relais plan``,
  process start-up included), and ``relais --version`` for the start-up alone. They run
  as an installed relais does: with the bytecode of ``bot/`` compiled (done first, as
  Python does on a first run unless PYTHONDONTWRITEBYTECODE is set) and a state
  directory without a store (every publication pending, as in the in-process plan).

Targets (issue 8, section 7), each printed PASS or FAIL:

- validate + plan, in process, at most 3x the bare parse (the two timings added);
- ``relais validate`` and ``relais plan --format json`` together under 2 s (best run of
  each, added).

Times are wall-clock; CPU time is printed beside each (and the ratio in CPU time), since
on a shared machine the wall clock also counts what other processes take.

    .venv/bin/python benchmarks/campaign_load.py [--repeat 5]
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

import yaml

import bot
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


def timed(function) -> tuple[float, float]:
    """Wall and CPU time of one call."""
    began, cpu = time.perf_counter(), time.process_time()
    function()
    return time.perf_counter() - began, time.process_time() - cpu


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
        cpus: dict[str, list[float]] = {name: [] for name in runs}
        for _ in range(repeat):
            for name, function in (
                ("bare parse", bare_parse),
                ("validate", validate),
                ("plan --format json", plan),
            ):
                wall, cpu = timed(function)
                runs[name].append(wall)
                cpus[name].append(cpu)

        relais = str(Path(sys.executable).with_name("relais"))
        compileall.compile_dir(Path(bot.__file__).parent, quiet=1)
        environment = {k: v for k, v in os.environ.items() if not k.startswith("RELAIS_")}
        environment["RELAIS_STATE_DIR"] = str(root / "state")
        commands: dict[str, tuple[float, float]] = {}
        for name, argv in {
            "relais --version (start-up)": [relais, "--version"],
            "relais validate": [relais, "validate"],
            "relais plan --format json": [relais, "plan", "--format", "json"],
        }.items():
            times = []
            for _ in range(repeat):
                before = resource.getrusage(resource.RUSAGE_CHILDREN)
                began = time.perf_counter()
                subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, env=environment)
                wall = time.perf_counter() - began
                after = resource.getrusage(resource.RUSAGE_CHILDREN)
                cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
                times.append((wall, cpu))
            commands[name] = min(times)

    print(f"{count} publications in {len(files)} files ({size / 1024:.0f} kB of YAML), best of {repeat}:")
    best = {name: min(values) for name, values in runs.items()}
    for name, value in best.items():
        median = statistics.median(runs[name])
        print(
            f"  {name:<22} {value * 1000:8.1f} ms  (median {median * 1000:.1f} ms, "
            f"CPU {min(cpus[name]) * 1000:.1f} ms)"
        )
    both = best["validate"] + best["plan --format json"]
    ratio = both / best["bare parse"]
    cpu_best = {name: min(values) for name, values in cpus.items()}
    cpu_ratio = (cpu_best["validate"] + cpu_best["plan --format json"]) / cpu_best["bare parse"]
    print(f"  validate + plan        {both * 1000:8.1f} ms")
    print(f"  ratio (validate + plan) / bare parse: {ratio:.2f}x  (in CPU time: {cpu_ratio:.2f}x)")
    print(f"  ratio plan / bare parse:              {best['plan --format json'] / best['bare parse']:.2f}x")
    print(f"as commands (process start-up and imports included), best of {repeat}:")
    for name, (wall, cpu) in commands.items():
        print(f"  {name:<28} {wall * 1000:8.1f} ms  (CPU {cpu * 1000:.1f} ms)")
    total = commands["relais validate"][0] + commands["relais plan --format json"][0]
    print(f"  relais validate + relais plan {total * 1000:7.1f} ms")
    load = os.getloadavg()[0]
    print(f"targets (load average {load:.1f} on {os.cpu_count()} CPUs while measuring):")
    verdict = "PASS" if ratio <= 3 else "FAIL"
    print(f"  {verdict}  validate + plan in process <= 3x the bare parse: {ratio:.2f}x")
    print(
        f"  {'PASS' if total < 2 else 'FAIL'}  relais validate + relais plan --format json, together "
        f"< 2000 ms: {total * 1000:.0f} ms"
    )


if __name__ == "__main__":
    main()
