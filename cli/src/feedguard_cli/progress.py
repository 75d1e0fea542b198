"""Progress on standard error: a bar redrawn in place on a terminal; on
anything else (a CI log), nothing, or a plain line when something changed."""

from __future__ import annotations

import sys
from typing import IO

WIDTH = 30


class Progress:
    def __init__(self, label: str, stream: IO[str] | None = None, *, lines: bool = False) -> None:
        """lines: off a terminal, write a plain line each time the text changes."""
        self.label = label
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.lines = lines
        self.last = ""
        self.drawn = False

    def update(self, done: int, total: int, note: str = "") -> None:
        text = f"{self.label}: {done}/{total}{f' {note}' if note else ''}"
        if self.tty:
            filled = WIDTH * min(done, total) // total if total else 0
            bar = "#" * filled + "-" * (WIDTH - filled)
            self.stream.write(f"\r\x1b[2K{self.label} [{bar}] {done}/{total}{f' {note}' if note else ''}")
            self.stream.flush()
            self.drawn = True
        elif self.lines and text != self.last:
            self.stream.write(text + "\n")
            self.stream.flush()
        self.last = text

    def close(self) -> None:
        if self.drawn:
            self.stream.write("\n")
            self.stream.flush()
            self.drawn = False
