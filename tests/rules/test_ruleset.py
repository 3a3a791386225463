"""Rule files: every problem named by file, line and column; examples run through the real matcher."""

from __future__ import annotations

from pathlib import Path

import pytest

from watcher.errors import RuleError
from watcher.rules.ruleset import check_ruleset, load_ruleset, run_examples

SCOPE = """\
id: scope
title: "CAR-T in B-ALL"
description: "CAR-T cell therapy in B-cell ALL"
priority: 3
query: >-
  ("chimeric antigen receptor"[tiab] OR CAR-T[tiab] OR CART19[tiab])
  AND ("acute lymphoblastic leukemia"[tiab] OR B-ALL[tiab])
examples:
  must_match:
    - title: "CAR-T cells for relapsed B-ALL"
  must_not_match:
    - title: "CAR-T cells for lymphoma"
"""

TOX = """\
id: toxicity
title: "Toxicity"
description: "CRS and ICANS"
priority: 4
query: >-
  "cytokine release syndrome"[tiab] OR CRS[tiab]
  OR neurotox*[tiab]
exclude: mice[ti]
routes: ["slack:#cart-tox"]
examples:
  must_match:
    - title: "Cytokine release syndrome after CART19 in B-ALL"
      abstract: "Grade 3 CRS in 12 children."
      mesh: ["Cytokine Release Syndrome"]
      keywords: ["CRS"]
      journal: "Blood"
      pubtypes: ["Journal Article"]
  must_not_match:
    - title: "CAR-T in B-ALL: long-term remission"
"""


def write(tmp_path: Path, **files: str) -> Path:
    for name, text in files.items():
        (tmp_path / f"{name}.yaml").write_text(text, encoding="utf-8")
    return tmp_path


def errors(directory: Path) -> list[str]:
    return [str(p) for p in check_ruleset(directory) if p.severity == "error"]


def test_a_valid_rule_set_loads_with_every_field(tmp_path: Path) -> None:
    rs = load_ruleset(write(tmp_path, scope=SCOPE, tox=TOX))
    tox = rs.get("toxicity")
    assert (tox.priority, tox.requires_scope, tox.routes) == (4, True, ("slack:#cart-tox",))
    assert tox.must_match[0].mesh == ("Cytokine Release Syndrome",)
    assert rs.scope is not None and rs.scope.id == "scope"
    assert check_ruleset(tmp_path) == []


def test_query_error_names_file_line_and_column_with_a_caret(tmp_path: Path) -> None:
    write(tmp_path, scope=SCOPE, tox=TOX.replace("OR neurotox*[tiab]", "OR neurotox*[tiabb]"))
    (message,) = errors(tmp_path)
    first, excerpt, caret = message.splitlines()
    assert (
        first
        == f"{tmp_path / 'tox.yaml'}:7:15: error: query: unknown field tag [tiabb]; known tags: "
        + " ".join(
            f"[{t}]" for t in ("tiab", "ti", "ab", "tw", "mh", "mh:noexp", "majr", "pt", "ta", "au", "la")
        )
    )
    assert excerpt == "    OR neurotox*[tiabb]"
    assert caret == "                ^^^^^^^"
    with pytest.raises(RuleError, match=r"tox.yaml:7:15"):
        load_ruleset(tmp_path)


def test_unbalanced_parenthesis_in_a_quoted_query_points_at_it(tmp_path: Path) -> None:
    write(tmp_path, scope=SCOPE, tox=TOX.replace("exclude: mice[ti]", 'exclude: "(mice[ti] OR rats[ti]"'))
    (message,) = errors(tmp_path)
    assert "tox.yaml:8:11: error: exclude: unbalanced parenthesis" in message


@pytest.mark.parametrize(
    ("change", "says"),
    [
        (("priority: 4", "priority: 7"), "tox.yaml:4:11: error: priority must be a whole number from 1 to 5"),
        (("routes:", "route:"), "tox.yaml:9:1: error: unknown key 'route' in rule; known keys: id, title"),
        (
            ('      journal: "Blood"', '      jornal: "Blood"'),
            "tox.yaml:16:7: error: unknown key 'jornal' in example",
        ),
        (("id: toxicity", "id: Toxicity!"), "tox.yaml:1:5: error: id may use only lower-case letters"),
        (('description: "CRS and ICANS"\n', ""), "tox.yaml:1:1: error: missing required key 'description'"),
        (
            ('    - title: "CAR-T in B-ALL: long-term remission"', "    []"),
            "must_not_match must be a non-empty",
        ),
        (
            ("exclude: mice[ti]", "exclude: CRS[tiab] OR cytokine release syndrome[tiab] OR neurotox*[tiab]"),
            "tox.yaml:5:8: error: this rule can never match",
        ),
        (("priority: 4", "priority: 4\npriority: 2"), "tox.yaml:5:1: error: key 'priority' appears twice"),
        (
            ('routes: ["slack:#cart-tox"]', 'routes: [""]'),
            "tox.yaml:9:10: error: each entry of routes must be",
        ),
        (('title: "Toxicity"', "title: [unclosed"), "tox.yaml:3:12: error: not valid YAML"),
    ],
)
def test_schema_problems_are_errors_that_say_where(
    tmp_path: Path, change: tuple[str, str], says: str
) -> None:
    write(tmp_path, scope=SCOPE, tox=TOX.replace(*change))
    found = errors(tmp_path)
    assert any(says in m for m in found), found


def test_duplicate_ids_and_missing_scope_are_errors(tmp_path: Path) -> None:
    write(tmp_path, a=TOX, b=TOX)
    found = errors(tmp_path)
    assert any("b.yaml:1:1: error: duplicate rule id 'toxicity' (also in" in m for m in found), found
    (tmp_path / "b.yaml").unlink()
    assert any('missing the scope rule: add a file with "id: scope"' in m for m in errors(tmp_path))


def test_lowercase_operator_is_a_warning_not_an_error(tmp_path: Path) -> None:
    write(tmp_path, scope=SCOPE, tox=TOX.replace("OR neurotox*[tiab]", "OR neurotoxicity and seizures[tiab]"))
    (problem,) = check_ruleset(tmp_path)
    assert problem.severity == "warning" and "'and' is searched as a word here" in problem.message
    load_ruleset(tmp_path)


def test_examples_pass_and_failures_say_which_clauses_fired(tmp_path: Path) -> None:
    assert all(r.passed for r in run_examples(load_ruleset(write(tmp_path, scope=SCOPE, tox=TOX))))
    broken = TOX.replace('"CAR-T in B-ALL: long-term remission"', '"CRS after CAR-T in B-ALL"')
    broken = broken.replace(
        "Cytokine release syndrome after CART19 in B-ALL", "Cytokine release syndrome in sepsis"
    )
    results = run_examples(load_ruleset(write(tmp_path, scope=SCOPE, tox=broken)))
    failed = {(r.rule_id, r.kind): r for r in results if not r.passed}
    assert set(failed) == {("toxicity", "must_match"), ("toxicity", "must_not_match")}
    not_in_scope = failed["toxicity", "must_match"]
    assert not not_in_scope.in_scope, "a gated topic example must also be in scope"
    assert not_in_scope.clauses == ('"cytokine release syndrome"[tiab]', "CRS[tiab]")
    assert failed["toxicity", "must_not_match"].clauses == ("CRS[tiab]",)
