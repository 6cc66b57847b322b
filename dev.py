#!/usr/bin/env python3
"""Set up the project's virtual environment and run a task in it.

    python3 dev.py rehearse [ARGS]   rehearse the sample campaign on the console
    python3 dev.py test [ARGS]       run the test suite (pytest)
    python3 dev.py lint              ruff check, then mypy over bot/
    python3 dev.py relais ARGS       any relais command
    python3 dev.py lock              re-resolve requirements.lock after editing pyproject.toml

The first run creates .venv and installs the locked dependencies (requirements.lock,
checked by hash); later runs reinstall only when the lock or pyproject.toml changed.
Needs nothing but Python 3.11 or newer.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
LOCK = ROOT / "requirements.lock"
STAMP = VENV / ".relais-installed"


def ensure_environment() -> None:
    if sys.version_info < (3, 11):
        sys.exit(f"Relais needs Python 3.11 or newer; this is {sys.version.split()[0]}.")
    digest = hashlib.sha256(LOCK.read_bytes() + (ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if STAMP.exists() and STAMP.read_text() == digest:
        return
    if not (BIN / "python").exists():
        print("Creating .venv …", file=sys.stderr)
        venv.create(VENV, with_pip=True)
    python = str(BIN / "python")
    print("Installing the locked dependencies into .venv …", file=sys.stderr)
    pip = [python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    subprocess.run([*pip, "--require-hashes", "-r", str(LOCK)], check=True, cwd=ROOT)
    subprocess.run([*pip, "--no-deps", "-e", str(ROOT)], check=True, cwd=ROOT)
    STAMP.write_text(digest)


def run(program: str, *args: str) -> None:
    executable = str(BIN / program)
    sys.stdout.flush()
    if os.name == "nt":  # pragma: no cover
        sys.exit(subprocess.call([executable, *args]))
    os.execv(executable, [executable, *args])


def main(argv: list[str]) -> None:
    task, *args = argv or ["help"]
    if task in {"help", "-h", "--help"}:
        print(__doc__)
        return
    if task == "lock":
        ensure_environment()
        subprocess.run([str(BIN / "python"), "-m", "pip", "install", "--quiet", "uv"], check=True)
        run(
            "uv",
            "pip",
            "compile",
            "pyproject.toml",
            "--extra",
            "test",
            "--python-version",
            "3.11",
            "--generate-hashes",
            "--quiet",
            "-o",
            str(LOCK),
        )
    ensure_environment()
    os.chdir(ROOT)
    if task == "rehearse":
        run("relais", "run", "--dry-run", "--from", "2011-09-01", *args)
    elif task == "test":
        run("python", "-m", "pytest", *args)
    elif task == "lint":
        if subprocess.call([str(BIN / "ruff"), "check", ".", *args]) != 0:
            sys.exit(1)
        run("mypy")  # over bot/, as [tool.mypy] in pyproject.toml says
    elif task == "relais":
        run("relais", *args)
    else:
        sys.exit(f"unknown task {task!r}; see python3 dev.py help")


if __name__ == "__main__":
    main(sys.argv[1:])
