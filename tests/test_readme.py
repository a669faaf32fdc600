"""The README stays true: its configuration table, its commands and its links match the code."""

from __future__ import annotations

import os
import re
import subprocess
import sys

from tests.helpers import ROOT

README = (ROOT / "README.md").read_text()


def prose(markdown: str) -> str:
    """The text outside fenced code blocks (examples there are not links)."""
    return re.sub(r"```.*?```", "", markdown, flags=re.S)


def test_configuration_table_matches_settings():
    """docs/configuration.md's table is settings.py's, and every setting has a description of its own
    (no grouped rows repeating one sentence)."""
    # PYTHONPATH: the checkout under test, whichever checkout the environment's editable install names.
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "settings_table.py"), "--check",
                             str(ROOT / "docs" / "configuration.md")], capture_output=True, text=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_setting_row_says_what_that_setting_does():
    table = (ROOT / "docs" / "configuration.md").read_text().split("settings-table:begin", 1)[1]
    rows = [line.split("|") for line in table.splitlines() if line.startswith("| ") and "`" in line]
    assert len(rows) > 50
    meanings = [row[5].strip() for row in rows]
    assert all(meanings) and len(set(meanings)) == len(meanings)
    deny = next(row for row in rows if "`deny_types`" in row[2])
    assert "allow list" not in deny[5] and "refused" in deny[5]


def test_readme_is_a_newcomers_page():
    """A quick start first, what a newcomer needs, and no pointer outside the repository."""
    assert "../" not in README
    headings = re.findall(r"(?m)^## (.+)$", README)
    assert headings[0] == "Quick start"
    for needed in ("Configuration", "API", "Deployment", "Map of the code", "Tests"):
        assert needed in headings, needed
    quick = README.split("## Quick start", 1)[1].split("```", 2)[1]
    lines = [line for line in quick.splitlines()[1:] if line.strip()]
    assert len(lines) == 3 and lines[0].startswith("make run") and lines[2].startswith("curl -F file=@")
    assert len(README.splitlines()) < 250
    # Long reference tables (settings, metrics) live in docs/: only the route table is long.
    tables = sorted(len(t.splitlines()) for t in re.findall(r"(?m)(?:^\|.*\|\n)+", prose(README)))
    assert tables[-1] <= 25 and tables[-2] <= 12, tables


def test_ci_runs_the_readme_test_command():
    assert "make test" in (ROOT / ".ci" / "run").read_text()
    assert "make test" in README and "make run" in README


def test_every_local_link_and_picture_exists():
    for target in re.findall(r"\]\(((?!https?:)[^)#\s]+)\)", prose(README)):
        assert (ROOT / target).exists(), target
    for doc in (ROOT / "docs").glob("*.md"):
        for target in re.findall(r"\]\(((?!https?:)[^)#\s]+)\)", prose(doc.read_text())):
            assert (doc.parent / target).exists(), f"{doc.name}: {target}"


def test_every_route_prefix_is_documented():
    from handlers.routes import routes

    for pattern, _handler in routes():
        literal = re.split(r"[(\[?$]", pattern, maxsplit=1)[0]
        assert literal in README, f"route {pattern} is not in the README"


def _code_map() -> str:
    section = README.split("## Map of the code", 1)[1]
    return section.split("```", 2)[1]


def test_code_map_names_only_what_exists_and_every_package():
    """Each line's first name exists (indented lines under tornado_paste/), and every package is listed."""
    tree = _code_map()
    for line in tree.splitlines():
        found = re.match(r"^( *)([\w.]+/?)(?=\s)", line)
        if not found:
            continue
        base = ROOT / "tornado_paste" if found.group(1) == "  " else ROOT
        assert (base / found.group(2)).exists(), line
    packages = {p.parent.name for p in (ROOT / "tornado_paste").glob("*/__init__.py")}
    listed = set(re.findall(r"(?m)^  (\w+)/", tree))
    assert packages <= listed, packages - listed
