"""docs/exit-status.md matches the code: the named statuses, the errors' statuses, and every
literal status a command module returns (issue 19: exit statuses were not documented).
"""

from __future__ import annotations

import ast
import inspect
import re
from dataclasses import dataclass

import assistant.cli.common as common
import assistant.errors as errors
from tests.conftest import ROOT

TABLE = ROOT / "docs" / "exit-status.md"
#: Modules whose functions return process exit statuses.
COMMAND_MODULES = [
    *sorted((ROOT / "assistant" / "cli").glob("*.py")),
    ROOT / "assistant" / "desktop.py",
    ROOT / "assistant" / "gui" / "app.py",
    ROOT / "assistant" / "selftest.py",
]


@dataclass(frozen=True)
class Row:
    status: int
    name: str
    errors: frozenset[str]


def table() -> dict[int, Row]:
    rows: dict[int, Row] = {}
    for line in TABLE.read_text(encoding="utf-8").splitlines():
        match = re.match(r"\| (\d+) \| `(EXIT_[A-Z]+)` \|", line)
        if not match:
            continue
        cells = [cell.strip() for cell in line.strip().strip("|").split(" | ")]
        assert len(cells) == 5, line
        names = frozenset(re.findall(r"`(\w+Error)`", cells[4]))
        rows[int(match[1])] = Row(int(match[1]), match[2], names)
    return rows


def error_classes() -> dict[str, type[errors.AssistantError]]:
    return {
        name: cls
        for name, cls in inspect.getmembers(errors, inspect.isclass)
        if issubclass(cls, errors.AssistantError)
    }


def test_every_named_status_is_in_the_table_with_its_value() -> None:
    rows = table()
    constants = {n: v for n, v in vars(common).items() if n.startswith("EXIT_")}
    assert {row.name: row.status for row in rows.values()} == constants


def test_every_error_family_is_listed_under_its_status() -> None:
    rows = table()
    for name, cls in error_classes().items():
        if "exit_code" in vars(cls):  # a family root: it sets the status its subclasses inherit
            assert cls.exit_code in rows, f"{name} exits {cls.exit_code}, not in the table"
            assert name in rows[cls.exit_code].errors, f"{name} is not listed under its status"


def test_every_error_the_table_names_has_that_status() -> None:
    classes = error_classes()
    for row in table().values():
        for name in row.errors:
            assert name in classes, f"{name} is not an error in assistant/errors.py"
            assert classes[name].exit_code == row.status, (name, classes[name].exit_code)
    listed = set().union(*(row.errors for row in table().values()))
    missing = {n for n, c in classes.items() if "exit_code" in vars(c)} - listed
    assert not missing


def _literal_statuses(tree: ast.AST) -> set[int]:
    """Integers a function returns as constants, and the values of ``EXIT_...`` names."""
    found: set[int] = set()

    def constants(node: ast.AST | None) -> set[int]:
        if isinstance(node, ast.Constant) and type(node.value) is int:
            return {node.value}
        if isinstance(node, ast.IfExp):
            return constants(node.body) | constants(node.orelse)
        if isinstance(node, ast.Tuple):
            return set().union(*(constants(e) for e in node.elts))
        return set()

    for node in ast.walk(tree):
        if isinstance(node, ast.Return):
            found |= constants(node.value)
        elif isinstance(node, ast.Assign):
            names = [t for t in node.targets if isinstance(t, ast.Name | ast.Tuple)]
            flat = [
                n.id
                for t in names
                for n in (t.elts if isinstance(t, ast.Tuple) else [t])
                if isinstance(n, ast.Name)
            ]
            if any(name.startswith("EXIT_") for name in flat):
                found |= constants(node.value)
    return found


def test_every_literal_status_a_command_returns_is_documented() -> None:
    documented = set(table())
    for module in COMMAND_MODULES:
        statuses = _literal_statuses(ast.parse(module.read_text(encoding="utf-8")))
        assert statuses <= documented, (module.relative_to(ROOT), statuses - documented)


def test_the_check_finds_an_undocumented_status() -> None:
    tree = ast.parse("EXIT_ODD = 9\ndef cmd(args):\n    return 0 if args.ok else 42\n")
    assert _literal_statuses(tree) == {0, 9, 42}


def test_the_readme_links_the_table() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "(docs/exit-status.md)" in readme
