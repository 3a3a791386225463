"""`watcher rules ...` and `watcher match` through the real command line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.paths import FIXTURES
from tests.rules.test_ruleset import SCOPE, TOX


@pytest.fixture
def config(tmp_path: Path) -> Path:
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "scope.yaml").write_text(SCOPE, encoding="utf-8")
    (rules / "tox.yaml").write_text(TOX, encoding="utf-8")
    cfg = tmp_path / "watcher.toml"
    cfg.write_text('[rules]\ndir = "rules"\n', encoding="utf-8")
    return cfg


def watcher(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "watcher", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_rules_check_passes_a_good_set_and_fails_a_bad_one_with_position(config: Path) -> None:
    ok = watcher("rules", "check", "--config", config)
    assert ok.returncode == 0 and "0 error(s), 0 warning(s)" in ok.stdout
    tox = config.parent / "rules" / "tox.yaml"
    tox.write_text(TOX.replace("CRS[tiab]", "CRS[tiabb]"), encoding="utf-8")
    bad = watcher("rules", "check", "--config", config)
    assert bad.returncode == 2
    assert f"{tox}:6:43: error: query: unknown field tag [tiabb]" in bad.stdout


def test_rules_test_reports_failing_examples_and_exits_nonzero(config: Path) -> None:
    assert watcher("rules", "test", "--config", config).returncode == 0
    tox = config.parent / "rules" / "tox.yaml"
    tox.write_text(TOX.replace("long-term remission", "CRS and remission"), encoding="utf-8")
    run = watcher("rules", "test", "--config", config)
    assert run.returncode == 1
    assert "FAIL toxicity must_not_match" in run.stdout and "CAR-T in B-ALL: CRS and remission" in run.stdout
    assert "expected no match, got match" in run.stdout and "clauses that fired: CRS[tiab]" in run.stdout


def test_rules_query_prints_one_rule_with_scope_or_the_poller_union(config: Path) -> None:
    one = watcher("rules", "query", "toxicity", "--config", config)
    assert one.returncode == 0
    assert one.stdout.strip().endswith(
        'AND (("cytokine release syndrome"[tiab] OR CRS[tiab] OR neurotox*[tiab]) NOT mice[ti])'
    )
    union = watcher("rules", "query", "--all", "--config", config)
    assert union.stdout.strip() == (
        '("chimeric antigen receptor"[tiab] OR "CAR-T"[tiab] OR CART19[tiab]) AND '
        '("acute lymphoblastic leukemia"[tiab] OR "B-ALL"[tiab])'
    )
    unknown = watcher("rules", "query", "nope", "--config", config)
    assert unknown.returncode == 2 and "no rule with id 'nope'" in unknown.stderr


def test_match_jsonl_prints_one_line_per_record_and_names_bad_lines(config: Path, tmp_path: Path) -> None:
    records = tmp_path / "records.jsonl"
    records.write_text(
        json.dumps({"id": "a", "title": "CRS after CAR-T in B-ALL", "extra": 1}) + "\n"
        "{not json\n" + json.dumps({"id": "b", "title": "Aspirin in stroke"}) + "\n",
        encoding="utf-8",
    )
    run = watcher("match", records, "--config", config)
    assert run.returncode == 1
    assert f"{records}:2: bad record" in run.stderr
    lines = [json.loads(line) for line in run.stdout.splitlines()]
    assert lines[0] == {
        "id": "a",
        "in_scope": True,
        "rules": ["toxicity"],
        "score": lines[0]["score"],
        "why": {"scope": ["car-t", "b-all"], "toxicity": ["crs"]},
    }
    assert lines[0]["score"] > 0
    assert lines[1] == {"id": "b", "in_scope": False, "rules": [], "score": 0.0, "why": {}}


def test_match_reads_pubmed_xml(config: Path) -> None:
    run = watcher("match", FIXTURES / "bench" / "pubmed_current_195.xml.gz", "--config", config)
    assert run.returncode == 0, run.stderr
    lines = [json.loads(line) for line in run.stdout.splitlines()]
    assert len(lines) == 195 and all(
        set(line) == {"id", "in_scope", "rules", "score", "why"} for line in lines
    )


def test_rules_eval_prints_and_writes_precision_recall(config: Path, tmp_path: Path) -> None:
    labels = tmp_path / "labels.jsonl"
    rows = [
        {"id": "1", "title": "CRS after CAR-T in B-ALL", "scope": "core", "topics": ["toxicity"]},
        {"id": "2", "title": "CAR-T in B-ALL: remission", "scope": "core", "topics": []},
        {"id": "3", "title": "CAR-T in lymphoma", "scope": "adjacent", "topics": []},
        {"id": "4", "title": "CRS in sepsis", "scope": "out", "topics": []},
    ]
    labels.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    out = tmp_path / "scores.json"
    run = watcher("rules", "eval", labels, "--json", out, "--config", config)
    assert run.returncode == 0, run.stderr
    assert "4 labelled records" in run.stdout
    scores = {r["rule_id"]: r for r in json.loads(out.read_text())["rules"]}
    assert (scores["scope"]["tp"], scores["scope"]["fp"], scores["scope"]["fn"]) == (2, 0, 1)
    assert scores["scope"]["false_negatives"] == ["3"]
    assert scores["toxicity"]["precision"] == 1.0 and scores["toxicity"]["recall"] == 1.0


def test_every_rules_command_has_help() -> None:
    for args in (["rules", "check"], ["rules", "test"], ["rules", "query"], ["rules", "eval"], ["match"]):
        run = watcher(*args, "--help")
        assert run.returncode == 0 and "usage:" in run.stdout
