"""PubMed XML parser throughput and peak memory against bare lxml iterparse.

Run: python -m tests.bench.bench_parser [--records 10000] [--repeat 3]
(writes tests/bench/results/parser.json)

Input: the 195-record benchmark base repeated to --records records with new
PMIDs, as one gzip PubmedArticleSet in a temp dir. Each measurement runs in a
fresh interpreter, so its peak RSS (VmHWM, else ru_maxrss) is its own:

  (a) bare lxml iterparse: touch each PubmedArticle end event and clear it,
      with the same safe parser options and the same gzip input;
  (d) watcher.sources.pubmed_xml.iter_pubmed_xml: full records.

records/s is the best of --repeat runs (the least disturbed by other load);
the CPU-time ratio is reported too, as it is steadier on a shared machine.
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


def _peak_rss_kib() -> int:
    """This process's own peak RSS.

    Linux carries ru_maxrss across exec, so a child started from a large
    parent would report the parent's size; VmHWM belongs to this process alone.
    """
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux


def worker(variant: str, path: Path) -> None:
    """One measurement, printed as JSON (runs in its own process)."""
    run = {"a": _run_bare, "d": _run_watcher}[variant]
    started, cpu_started = time.perf_counter(), time.process_time()
    count = run(path)
    seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu_started
    peak_kib = _peak_rss_kib()
    print(
        json.dumps(
            {"records": count, "seconds": seconds, "cpu_seconds": cpu_seconds, "peak_rss_mb": peak_kib / 1024}
        )
    )


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
                "cpu_seconds": round(min(r["cpu_seconds"] for r in runs), 3),
                "peak_rss_mb": round(max(r["peak_rss_mb"] for r in runs), 1),
            }
    ratio = rows["d"]["records_per_s"] / rows["a"]["records_per_s"]
    # CPU time is steadier than wall time on a shared machine
    cpu_ratio = rows["a"]["cpu_seconds"] / rows["d"]["cpu_seconds"]
    report = {
        "input": {"records": args.records, "gzip_mb": round(size_mb, 1), "base": BENCH_BASE.name},
        "machine": {"python": platform.python_version(), "platform": platform.platform()},
        "repeat": args.repeat,
        "results": rows,
        "d_over_a": round(ratio, 3),
        "d_over_a_cpu": round(cpu_ratio, 3),
    }
    print(f"{args.records} records, {size_mb:.1f} MB gzip, best of {args.repeat}")
    print(f"{'variant':<42} {'records/s':>10} {'seconds':>8} {'cpu s':>7} {'peak RSS MB':>12}")
    for variant, row in rows.items():
        name = f"({variant}) {row['label']}"
        print(
            f"{name:<42} {row['records_per_s']:>10.0f} {row['seconds']:>8.2f}"
            f" {row['cpu_seconds']:>7.2f} {row['peak_rss_mb']:>12.1f}"
        )
    print(f"(d)/(a) throughput: {ratio:.2f} wall, {cpu_ratio:.2f} CPU")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
