"""Running ``relais`` on a pseudo-terminal of a given size, to see what a person sees."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import struct
import subprocess
import sys
import termios
from pathlib import Path

ANSI = re.compile(r"\x1b\[[0-9;]*m")


def on_terminal(*args: str, cwd: Path, env: dict[str, str], columns: int, lines: int = 500) -> str:
    """What ``relais ARGS`` shows on a ``columns`` x ``lines`` terminal (colours removed,
    line ends as "\\n"); stderr is left out."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", lines, columns, 0, 0))
    environment = {k: v for k, v in env.items() if k not in ("COLUMNS", "LINES")}
    environment.setdefault("PAGER", "cat")
    process = subprocess.Popen([sys.executable, "-m", "bot", *args], cwd=cwd, env=environment,
                               stdin=slave, stdout=slave, stderr=subprocess.DEVNULL, close_fds=True)
    os.close(slave)
    output = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # the other end closed
            break
        if not chunk:
            break
        output += chunk
    os.close(master)
    assert process.wait(60) == 0
    return ANSI.sub("", output.decode()).replace("\r\n", "\n")
