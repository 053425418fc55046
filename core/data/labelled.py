"""The labelled set a run holds, and what is counted from it (classes, domains, a hash of its
texts for caches).

Only the type and its summaries live here; parsing is `core.data.parse`, loading from a path
`core.data.load`, so a module that only needs the type pulls in no file handling.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass, field

from core.data.problems import DataError, Problem


@dataclass
class LabelledSet:
    texts: list[str]
    labels: list[int]
    label_names: list[str]
    source: str
    encoding: str = "utf-8"
    warnings: list[Problem] = field(default_factory=list)
    clipped: int = 0  # texts clipped to max_chars while loading
    task: str = "single"  # "single" | "pair" (texts are `text_a<TAB>text_b`: core.pairs)
    domains: list[str] | None = None  # each row's domain, when the data name several

    def __len__(self) -> int:
        return len(self.texts)

    def subset(self, idx: list[int]) -> LabelledSet:
        return LabelledSet(
            [self.texts[i] for i in idx],
            [self.labels[i] for i in idx],
            self.label_names,
            self.source,
            self.encoding,
            task=self.task,
            domains=[self.domains[i] for i in idx] if self.domains is not None else None,
        )

    def strata(self) -> list:
        """What a stratified split keeps in proportion: the class, and with domains the
        (domain, class) pair, so a small domain is not left out of a test or dev split."""
        if self.domains is None:
            return list(self.labels)
        return list(zip(self.domains, self.labels, strict=True))

    def domain_names(self) -> list[str]:
        return sorted(set(self.domains)) if self.domains is not None else []

    def of_domain(self, domain: str) -> LabelledSet:
        """The rows of one domain (no domains: an error naming what the data hold)."""
        if self.domains is None:
            raise DataError([Problem(self.source, None, "these data have no domain column")])
        idx = [i for i, d in enumerate(self.domains) if d == domain]
        if not idx:
            known = ", ".join(self.domain_names())
            raise DataError(
                [Problem(self.source, None, f"no rows of domain {domain!r} (domains: {known})")]
            )
        return self.subset(idx)


def label_key(name: str) -> tuple[int, object]:
    """Sort key for label names: integer labels in numeric order (2 before 10), then strings."""
    return (0, int(name)) if name.lstrip("-").isdigit() else (1, name)


def class_counts(ds: LabelledSet) -> dict[str, int]:
    """{class: rows}, every class listed (0 where it has none), in label order."""
    c = Counter(ds.labels)
    return {ds.label_names[i]: c.get(i, 0) for i in range(len(ds.label_names))}


def domain_class_counts(ds: LabelledSet) -> dict[str, dict[str, int]]:
    """{domain: {class: rows}}, every class listed for every domain (0 where it has none)."""
    out: dict[str, dict[str, int]] = {}
    if ds.domains is None:
        return out
    c = Counter(zip(ds.domains, ds.labels, strict=True))
    for d in ds.domain_names():
        out[d] = {n: c.get((d, i), 0) for i, n in enumerate(ds.label_names)}
    return out


def texts_hash(texts: list[str]) -> str:
    """A short fingerprint of the texts in order, so caches (teacher logits) know their data."""
    h = hashlib.sha256()
    for t in texts:
        h.update(t.encode("utf-8"))
        h.update(b"\x00")
    return h.hexdigest()[:16]
