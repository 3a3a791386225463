"""Rule files (one YAML file per topic) -> a validated RuleSet.

Files are read through PyYAML's node API (safe loader: no Python tags, no
code), so every problem can name the file, line and column, and show the
offending line with a caret. Every problem in every file is collected before
anything is raised, so one ``watcher rules check`` lists them all.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml

from watcher.errors import RuleError
from watcher.rules.analysis import satisfiable
from watcher.rules.evaluate import Matcher
from watcher.rules.language import BinOp, Node, QuerySyntaxError, caret_excerpt, leaves, parse
from watcher.rules.records import paper_from_example
from watcher.rules.rule import PUBMED_TERM_WARN_CHARS, SCOPE_ID, Example, Rule, RuleSet

__all__ = [
    "ExampleResult",
    "Problem",
    "Rule",
    "RuleSet",
    "check_ruleset",
    "load_ruleset",
    "run_examples",
]

RULE_ID = re.compile(r"^[a-z0-9-]+$")
REQUIRED = ("id", "title", "description", "priority", "query", "examples")
OPTIONAL = ("requires_scope", "exclude", "routes")
EXAMPLE_KEYS = ("title", "abstract", "mesh", "keywords", "journal", "pubtypes")
_LOWER_OPERATOR = re.compile(r"(?<![\"\w-])(and|or|not)(?![\w-])")

Severity = Literal["error", "warning"]


@dataclass(frozen=True, slots=True)
class Problem:
    severity: Severity
    path: Path | None
    line: int
    column: int
    message: str
    excerpt: str = ""

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}:{self.column}" if self.path else "rules"
        text = f"{where}: {self.severity}: {self.message}"
        return f"{text}\n{self.excerpt}" if self.excerpt else text


@dataclass(frozen=True, slots=True)
class ExampleResult:
    rule_id: str
    kind: Literal["must_match", "must_not_match"]
    title: str
    expected: bool
    got: bool
    # clauses of the rule that fired on the example (why it matched, or nearly did)
    clauses: tuple[str, ...] = ()
    in_scope: bool = False
    line: int = 0
    path: Path | None = None

    @property
    def passed(self) -> bool:
        return self.expected == self.got


class _File:
    """One YAML file being read: its text, for positions, and collected problems."""

    def __init__(self, path: Path, text: str, problems: list[Problem]) -> None:
        self.path = path
        self.text = text
        self.problems = problems

    def at(self, node: yaml.Node, message: str, severity: Severity = "error", length: int = 0) -> None:
        self.at_index(node.start_mark.index, message, severity, length or _node_length(node))

    def at_index(self, index: int, message: str, severity: Severity = "error", length: int = 1) -> None:
        line = self.text.count("\n", 0, index) + 1
        column = index - (self.text.rfind("\n", 0, index) + 1) + 1
        excerpt = caret_excerpt(self.text, index, index + max(1, length))
        self.problems.append(Problem(severity, self.path, line, column, message, excerpt))


def _node_length(node: yaml.Node) -> int:
    if isinstance(node, yaml.ScalarNode):
        return max(1, node.end_mark.index - node.start_mark.index)
    return 1


def check_ruleset(directory: Path) -> list[Problem]:
    """Every error and warning in the rule files of ``directory``."""
    return _read(directory)[1]


def load_ruleset(directory: Path) -> RuleSet:
    """The valid RuleSet in ``directory``; RuleError listing every error otherwise."""
    ruleset, problems = _read(directory)
    errors = [p for p in problems if p.severity == "error"]
    if errors or ruleset is None:
        raise RuleError(f"{len(errors)} problem(s) in the rule files:\n\n" + "\n\n".join(map(str, errors)))
    return ruleset


def _read(directory: Path) -> tuple[RuleSet | None, list[Problem]]:
    problems: list[Problem] = []
    if not directory.is_dir():
        problems.append(Problem("error", directory, 0, 0, "rule directory not found (set [rules] dir)"))
        return None, problems
    paths = sorted([*directory.glob("*.yaml"), *directory.glob("*.yml")])
    if not paths:
        problems.append(Problem("error", directory, 0, 0, "no rule files (*.yaml) in the rule directory"))
        return None, problems
    rules: list[Rule] = []
    seen: dict[str, Problem] = {}
    for path in paths:
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            problems.append(Problem("error", path, 0, 0, f"cannot read: {e}"))
            continue
        f = _File(path, text, problems)
        before = len(problems)
        rule = _read_rule(f)
        if rule is None:
            continue
        if rule.id in seen:
            first = seen[rule.id]
            f.at_index(0, f"duplicate rule id {rule.id!r} (also in {first.path}); ids must be unique")
            continue
        seen[rule.id] = Problem("error", path, 0, 0, "")
        if len(problems) == before:
            rules.append(rule)
    if SCOPE_ID not in seen and not any(p.severity == "error" for p in problems):
        problems.append(
            Problem("error", directory, 0, 0, f'missing the scope rule: add a file with "id: {SCOPE_ID}"')
        )
    if any(p.severity == "error" for p in problems):
        return None, problems
    ruleset = RuleSet(tuple(rules))
    term_length = len(ruleset.pubmed_term())
    if term_length > PUBMED_TERM_WARN_CHARS:
        problems.append(
            Problem(
                "warning",
                directory,
                0,
                0,
                f"the poller's PubMed term is {term_length} characters (over {PUBMED_TERM_WARN_CHARS}); "
                "simplify the scope rule or the stand-alone rules",
            )
        )
    return ruleset, problems


def _read_rule(f: _File) -> Rule | None:
    loader = yaml.SafeLoader(f.text)
    try:
        root = loader.get_single_node()
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        f.at_index(mark.index if mark else 0, f"not valid YAML: {e.problem or e}")
        return None
    except yaml.YAMLError as e:
        f.at_index(0, f"not valid YAML: {e}")
        return None
    finally:
        loader.dispose()
    if not isinstance(root, yaml.MappingNode):
        f.at_index(0, "a rule file must be a mapping with id, title, description, priority, query, examples")
        return None
    fields = _mapping(f, root, REQUIRED + OPTIONAL, "rule")
    if fields is None:
        return None
    missing = [k for k in REQUIRED if k not in fields]
    for key in missing:
        f.at(root, f"missing required key '{key}'")
    if missing:
        return None
    rid = _string(f, fields["id"], "id")
    if rid is not None and not RULE_ID.match(rid):
        f.at(fields["id"], "id may use only lower-case letters, digits and hyphens")
    title = _string(f, fields["title"], "title")
    description = _string(f, fields["description"], "description")
    priority = _scalar(fields["priority"])
    if not isinstance(priority, int) or isinstance(priority, bool) or not 1 <= priority <= 5:
        f.at(fields["priority"], "priority must be a whole number from 1 to 5 (5 = most important)")
        priority = None
    requires_scope = True
    if "requires_scope" in fields:
        value = _scalar(fields["requires_scope"])
        if not isinstance(value, bool):
            f.at(fields["requires_scope"], "requires_scope must be true or false")
        else:
            requires_scope = value
            if rid == SCOPE_ID:
                f.at(fields["requires_scope"], "the scope rule ignores requires_scope", "warning")
    query = _query(f, fields["query"], "query")
    exclude = _query(f, fields["exclude"], "exclude") if "exclude" in fields else None
    routes = _string_list(f, fields["routes"], "routes") if "routes" in fields else ()
    examples = _examples(f, fields["examples"])
    if rid is None or title is None or description is None or priority is None or query is None:
        return None
    if examples is None or routes is None or ("exclude" in fields and exclude is None):
        return None
    must, must_not = examples
    full: Node = query[0] if exclude is None else BinOp("NOT", query[0], exclude[0])
    if not satisfiable(full):
        f.at(
            fields["query"],
            "this rule can never match: its exclude (or a NOT inside it) removes everything the query finds",
        )
    return Rule(
        id=rid,
        title=title,
        description=description,
        priority=priority,
        query=query[0],
        query_text=query[1],
        requires_scope=requires_scope,
        exclude=exclude[0] if exclude else None,
        exclude_text=exclude[1] if exclude else "",
        routes=routes,
        must_match=must,
        must_not_match=must_not,
        path=f.path,
    )


def _mapping(
    f: _File, node: yaml.MappingNode, known: tuple[str, ...], what: str
) -> dict[str, yaml.Node] | None:
    out: dict[str, yaml.Node] = {}
    ok = True
    for key_node, value_node in node.value:
        key = _scalar(key_node) if isinstance(key_node, yaml.ScalarNode) else None
        if not isinstance(key, str):
            f.at(key_node, f"{what} keys must be plain names")
            ok = False
        elif key not in known:
            f.at(key_node, f"unknown key '{key}' in {what}; known keys: {', '.join(known)}")
            ok = False
        elif key in out:
            f.at(key_node, f"key '{key}' appears twice")
            ok = False
        else:
            out[key] = value_node
    return out if ok else None


def _scalar(node: yaml.Node) -> Any:
    if not isinstance(node, yaml.ScalarNode):
        return node
    # Resolve the scalar the way safe_load would (int, bool, str, null...).
    return yaml.SafeLoader("").construct_object(node, deep=True)


def _string(f: _File, node: yaml.Node, key: str) -> str | None:
    value = _scalar(node)
    if not isinstance(value, str) or not value.strip():
        f.at(node, f"{key} must be a non-empty text")
        return None
    return value


def _string_list(f: _File, node: yaml.Node, key: str) -> tuple[str, ...] | None:
    if not isinstance(node, yaml.SequenceNode):
        f.at(node, f'{key} must be a list of texts, as in ["a", "b"]')
        return None
    out: list[str] = []
    for item in node.value:
        value = _string(f, item, f"each entry of {key}")
        if value is None:
            return None
        out.append(value)
    return tuple(out)


def _query(f: _File, node: yaml.Node, key: str) -> tuple[Node, str] | None:
    text = _string(f, node, key)
    if text is None:
        return None
    try:
        ast = parse(text)
    except QuerySyntaxError as e:
        start = _source_index(f.text, node, text, e.start)
        end = _source_index(f.text, node, text, e.end)
        f.at_index(start, f"{key}: {e.message}", length=max(1, end - start))
        return None
    _warn_lowercase_operators(f, node, text, ast)
    return ast, text


def _warn_lowercase_operators(f: _File, node: yaml.Node, text: str, ast: Node) -> None:
    for term in leaves(ast):
        if term.quoted or " " not in term.text:
            continue
        m = _LOWER_OPERATOR.search(term.text)
        if m:
            at = _source_index(f.text, node, text, term.start)
            f.at_index(
                at,
                f"'{m.group()}' is searched as a word here: PubMed operators are upper-case ({m.group().upper()})",
                "warning",
                term.end - term.start,
            )


def _examples(f: _File, node: yaml.Node) -> tuple[tuple[Example, ...], tuple[Example, ...]] | None:
    if not isinstance(node, yaml.MappingNode):
        f.at(node, "examples must be a mapping with must_match and must_not_match lists")
        return None
    fields = _mapping(f, node, ("must_match", "must_not_match"), "examples")
    if fields is None:
        return None
    out: list[tuple[Example, ...]] = []
    for key in ("must_match", "must_not_match"):
        if key not in fields:
            f.at(node, f"examples needs a non-empty {key} list")
            return None
        seq = fields[key]
        if not isinstance(seq, yaml.SequenceNode) or not seq.value:
            f.at(seq, f"{key} must be a non-empty list of examples (each with a title)")
            return None
        items = [_example(f, item) for item in seq.value]
        if any(e is None for e in items):
            return None
        out.append(tuple(e for e in items if e is not None))
    return out[0], out[1]


def _example(f: _File, node: yaml.Node) -> Example | None:
    if not isinstance(node, yaml.MappingNode):
        f.at(node, "an example must be a mapping with at least a title")
        return None
    fields = _mapping(f, node, EXAMPLE_KEYS, "example")
    if fields is None:
        return None
    if "title" not in fields:
        f.at(node, "an example needs a title")
        return None
    values: dict[str, Any] = {}
    for key in ("title", "abstract", "journal"):
        if key in fields:
            values[key] = _string(f, fields[key], key)
            if values[key] is None:
                return None
    for key in ("mesh", "keywords", "pubtypes"):
        if key in fields:
            values[key] = _string_list(f, fields[key], key)
            if values[key] is None:
                return None
    return Example(**values, line=node.start_mark.line + 1)


def _source_index(text: str, node: yaml.Node, value: str, offset: int) -> int:
    """Where ``value[offset]`` sits in the file, by aligning the scalar with its source.

    Folded and plain scalars turn line breaks plus indentation into one space;
    whitespace runs are aligned as a unit. Escapes that do not align fall back
    to the scalar's start.
    """
    start = node.start_mark.index
    raw = text[start : node.end_mark.index]
    style = getattr(node, "style", None)
    j = 0
    if style in ("|", ">"):
        j = raw.find("\n") + 1
    elif style in ('"', "'"):
        j = 1
    i = 0
    while i < offset and i < len(value):
        if j >= len(raw):
            return start
        if value[i].isspace():
            while i < offset and i < len(value) and value[i].isspace():
                i += 1
            while j < len(raw) and raw[j].isspace():
                j += 1
            continue
        if raw[j] == value[i]:
            i += 1
            j += 1
            continue
        if raw[j].isspace():  # indentation or a folded line break
            j += 1
            continue
        return start
    while j < len(raw) and raw[j].isspace() and i < len(value) and not value[i].isspace():
        j += 1
    return start + j


def run_examples(ruleset: RuleSet, matcher: Matcher | None = None) -> list[ExampleResult]:
    """Each rule's examples through the full matcher (scope gating included)."""
    matcher = matcher or Matcher(ruleset)
    results: list[ExampleResult] = []
    for rule in ruleset.rules:
        for kind, examples, expected in (
            ("must_match", rule.must_match, True),
            ("must_not_match", rule.must_not_match, False),
        ):
            for n, example in enumerate(examples):
                paper = paper_from_example(example, f"{rule.id}:{kind}:{n}")
                result = matcher.match(paper)
                hit = next((h for h in result.hits if h.rule_id == rule.id), None)
                clauses = hit.clauses if hit else matcher.fired_clauses(rule.id, paper)
                results.append(
                    ExampleResult(
                        rule.id,
                        kind,  # type: ignore[arg-type]
                        example.title,
                        expected,
                        hit is not None,
                        clauses,
                        result.in_scope,
                        example.line,
                        rule.path,
                    )
                )
    return results
