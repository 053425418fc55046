"""Renaming a data set's labels for display (`--label-names 0=negative,1=positive`), checked
before any training so a typo is named rather than silently ignored.
"""

from __future__ import annotations

from core.data.problems import DataError, Problem


def parse_label_names(spec: str) -> dict[str, str]:
    """ "0=negative,1=positive" -> {"0": "negative", "1": "positive"}."""
    out: dict[str, str] = {}
    for part in spec.split(","):
        if not part.strip():
            continue
        if "=" not in part:
            raise DataError(
                [Problem("--label-names", None, f"{part.strip()!r} is not label=name", "error")]
            )
        k, v = (x.strip() for x in part.split("=", 1))
        out[k] = v
    return out


def renamed_labels(label_names: list[str], spec: str) -> list[str]:
    """The label names with `spec`'s renames applied; a label the data lacks, an empty name
    or two labels given one name are errors (named, before any training)."""
    mapping = parse_label_names(spec)
    problems = []
    for k, v in mapping.items():
        if k not in label_names:
            problems.append(
                f"label {k!r} is not in the data (its labels: {', '.join(label_names)})"
            )
        if not v:
            problems.append(f"label {k!r} is given an empty name")
    names = [mapping.get(n, n) for n in label_names]
    if len(set(names)) < len(names):
        problems.append(f"two labels would share a name: {', '.join(names)}")
    if problems:
        raise DataError([Problem("--label-names", None, m, "error") for m in problems])
    return names
