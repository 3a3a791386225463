"""Regenerate watcher/rules/word_frequency.txt from the recorded PubMed records.

The matcher picks, for each rule, the trigger words least likely to occur in
an unrelated paper; this table says how likely each common word is (the share
of real PubMed records whose searchable text contains it). Run:

    python -m tests.bench.word_frequency
"""

from __future__ import annotations

from collections import Counter

from tests.paths import FIXTURES, REPO
from watcher.models import Paper
from watcher.rules.normalize import words
from watcher.rules.record import record_text
from watcher.sources.pubmed_xml import iter_pubmed_xml

OUT = REPO / "watcher" / "rules" / "word_frequency.txt"
MIN_SHARE = 0.01


def main() -> None:
    seen: dict[str, Paper] = {}
    for path in sorted(FIXTURES.glob("pubmed/efetch/**/*.xml*")) + sorted(FIXTURES.glob("bench/*.xml.gz")):
        try:
            for item in iter_pubmed_xml(path):
                if isinstance(item, Paper):
                    seen.setdefault(item.source_id, item)
        except Exception:  # noqa: S112 - a fixture that is not a PubmedArticleSet adds no words
            continue
    df: Counter[str] = Counter()
    for paper in seen.values():
        df.update(set(words(record_text(paper))))
    n = len(seen)
    lines = [f"{w} {count / n:.4f}" for w, count in sorted(df.items()) if count / n >= MIN_SHARE]
    header = f"# share of {n} real PubMed records containing each word (>= {MIN_SHARE:.0%}); python -m tests.bench.word_frequency\n"
    OUT.write_text(header + "\n".join(lines) + "\n")
    print(f"{len(lines)} words from {n} records -> {OUT}")


if __name__ == "__main__":
    main()
