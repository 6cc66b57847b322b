"""Installing as the README says: a wheel built from the clone, installed into a fresh
virtual environment (as pipx, uv tool and the Containerfile do), runs on its own — the
migrations and every other file of the package inside it; and click's shell completion."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

from tests.conftest import ROOT


def run(*command: str | Path, cwd: Path, env: dict[str, str] | None = None,
        timeout: float = 600) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([str(c) for c in command], cwd=cwd, env=env, capture_output=True, text=True,
                            timeout=timeout, check=False)
    assert result.returncode == 0, f"{command}: {result.stdout}\n{result.stderr}"
    return result


def package_files() -> set[str]:
    """The files of bot/ a wheel must carry: git's list (what a clone holds), else the tree."""
    if shutil.which("git") and (ROOT / ".git").exists():
        listed = run("git", "ls-files", "bot", cwd=ROOT).stdout.split()
    else:
        listed = [str(p.relative_to(ROOT)) for p in (ROOT / "bot").rglob("*") if p.is_file()]
    return {name for name in listed if "__pycache__" not in name and (ROOT / name).exists()}


@pytest.mark.slow
def test_a_wheel_installed_in_a_fresh_environment_validates_and_migrates(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    run(sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", dist, ROOT, cwd=tmp_path)
    (wheel,) = dist.glob("relais-*.whl")
    missing = package_files() - set(zipfile.ZipFile(wheel).namelist())
    assert not missing, f"not in the wheel (pyproject.toml, [tool.setuptools.package-data]): {missing}"

    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    run(python, "-m", "pip", "install", "--quiet", "--require-hashes", "-r", ROOT / "requirements.lock",
        cwd=tmp_path)
    run(python, "-m", "pip", "install", "--quiet", "--no-deps", wheel, cwd=tmp_path)

    # The sample, away from the clone: nothing of bot/ can be imported from the working directory.
    campaign = tmp_path / "campaign"
    for part in ("schedules", "messages"):
        shutil.copytree(ROOT / part, campaign / part)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RELAIS_", "PYTHON", "STATE_DIRECTORY"))}
    env["XDG_STATE_HOME"] = str(tmp_path / "state")
    relais = env_dir / "bin" / "relais"
    where = run(python, "-c", "import bot; print(bot.__file__)", cwd=campaign, env=env).stdout
    assert where.startswith(str(env_dir)), where
    validated = run(relais, "validate", cwd=campaign, env=env)
    assert validated.stdout.endswith("36 publications on 2 channels\nok\n")
    upgraded = run(relais, "db", "upgrade", cwd=campaign, env=env)
    assert upgraded.stdout == f"{tmp_path / 'state' / 'relais' / 'relais.db'}: up to date\n"
    run(relais, "status", cwd=campaign, env=env)  # the migrated store reads as current


def test_shell_completion_is_clicks() -> None:
    """The README's completion line: bash asks the command itself for its words."""
    relais = Path(sys.executable).parent / "relais"
    env = dict(os.environ, _RELAIS_COMPLETE="bash_complete", COMP_WORDS="relais db b", COMP_CWORD="2")
    result = subprocess.run([relais], env=env, capture_output=True, text=True, timeout=60, check=False)
    assert result.stdout.split() == ["plain,backup"]
    script = subprocess.run([relais], env=dict(os.environ, _RELAIS_COMPLETE="bash_source"),
                            capture_output=True, text=True, timeout=60, check=False).stdout
    assert "complete -o nosort -F _relais_completion relais" in script
