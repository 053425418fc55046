"""Problems found in data files, and the error that carries them all.

Validation collects every problem before raising, so the user can fix a file in one pass, and
every problem names the file and (where there is one) the line.
"""

from __future__ import annotations

from dataclasses import dataclass

MAX_LISTED = 20  # problems listed per file before "... and N more"


@dataclass
class Problem:
    file: str
    line: int | None
    message: str
    level: str = "error"  # "error" | "warning"

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.level}: {self.message}"


class DataError(ValueError):
    """Raised with every problem found, so the user can fix a file in one pass."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        errors = [p for p in problems if p.level == "error"]
        shown = "\n".join(str(p) for p in errors[:MAX_LISTED])
        more = f"\n... and {len(errors) - MAX_LISTED} more" if len(errors) > MAX_LISTED else ""
        super().__init__(shown + more)


def listed(problems: list[Problem], limit: int = MAX_LISTED) -> list[str]:
    """The first `limit` problems as lines, then "... and N more <level>s": what every list of
    warnings shows (a file of repeated rows has one warning per row, hundreds of thousands)."""
    lines = [str(p) for p in problems[:limit]]
    if len(problems) > limit:
        level = problems[0].level if len({p.level for p in problems}) == 1 else "problem"
        lines.append(f"... and {len(problems) - limit:,} more {level}s")
    return lines
