"""PubMed XML parser throughput and peak memory against bare lxml iterparse.

Run: python -m tests.bench.bench_parser [--records 10000] [--repeat 3]
(writes tests/bench/results/parser.json)

Input: the 195-record benchmark base repeated to --records records with new
PMIDs, as one gzip PubmedArticleSet in a temp dir. Each measurement runs in a
fresh interpreter, so its peak RSS (ru_maxrss) is its own:

  (a) bare lxml iterparse: touch each PubmedArticle end event and clear it,
      with the same safe parser options and the same gzip input;
  (d) watcher.sources.pubmed_xml.iter_pubmed_xml: full records.

records/s is the best of --repeat runs (the least disturbed by other load).
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.bench.inputs import BENCH_BASE, make_repeated_pubmed

RESULTS = Path(__file__).parent / "results" / "parser.json"
VARIANTS = {
    "a": "bare lxml iterparse + clear",
    "d": "iter_pubmed_xml (full Paper records)",
}


def _run_bare(path: Path) -> int:
    from lxml import etree

    from watcher.sources.pubmed_xml import _SAFE_PARSER_OPTIONS, _Gunzip

    count = 0
    with open(path, "rb") as raw:
        context = etree.iterparse(
            _Gunzip(raw), events=("end",), tag=("PubmedArticle", "PubmedBookArticle"), **_SAFE_PARSER_OPTIONS
        )
        for _event, elem in context:
            count += 1
            elem.clear(keep_tail=False)
            parent = elem.getparent()
            while elem.getprevious() is not None:
                del parent[0]
    return count


def _run_watcher(path: Path) -> int:
    from watcher.sources.pubmed_xml import iter_pubmed_xml

    count = 0
    for _item in iter_pubmed_xml(path):
        count += 1
    return count


def worker(variant: str, path: Path) -> None:
    """One measurement, printed as JSON (runs in its own process)."""
    run = {"a": _run_bare, "d": _run_watcher}[variant]
    started = time.perf_counter()
    count = run(path)
    seconds = time.perf_counter() - started
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    print(json.dumps({"records": count, "seconds": seconds, "peak_rss_mb": peak_kib / 1024}))


def measure(variant: str, path: Path) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, "-m", "tests.bench.bench_parser", "--worker", variant, str(path)],
        check=True,
        capture_output=True,
        text=True,
    )
    result: dict[str, float] = json.loads(out.stdout)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--records", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--worker", nargs=2, metavar=("VARIANT", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker[0], Path(args.worker[1]))
        return

    with tempfile.TemporaryDirectory() as tmp:
        path = make_repeated_pubmed(BENCH_BASE, args.records, Path(tmp) / "bench.xml.gz")
        size_mb = path.stat().st_size / 1e6
        rows = {}
        for variant, label in VARIANTS.items():
            runs = [measure(variant, path) for _ in range(args.repeat)]
            best = min(runs, key=lambda r: r["seconds"])
            rows[variant] = {
                "label": label,
                "records": int(best["records"]),
                "seconds": round(best["seconds"], 3),
                "records_per_s": round(best["records"] / best["seconds"], 1),
                "peak_rss_mb": round(max(r["peak_rss_mb"] for r in runs), 1),
            }
    ratio = rows["d"]["records_per_s"] / rows["a"]["records_per_s"]
    report = {
        "input": {"records": args.records, "gzip_mb": round(size_mb, 1), "base": BENCH_BASE.name},
        "machine": {"python": platform.python_version(), "platform": platform.platform()},
        "repeat": args.repeat,
        "results": rows,
        "d_over_a": round(ratio, 3),
    }
    print(f"{args.records} records, {size_mb:.1f} MB gzip, best of {args.repeat}")
    print(f"{'variant':<42} {'records/s':>10} {'seconds':>8} {'peak RSS MB':>12}")
    for variant, row in rows.items():
        name = f"({variant}) {row['label']}"
        print(f"{name:<42} {row['records_per_s']:>10.0f} {row['seconds']:>8.2f} {row['peak_rss_mb']:>12.1f}")
    print(f"(d)/(a) throughput: {ratio:.2f}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
