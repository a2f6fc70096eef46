"""The documentation: the site builds with every warning an error, its reference is the code's, its commands run.

The reference page (docs/reference.md) is checked against the code, both ways: the environment variables the
router's source names, every key the schedule's reader takes, every `callrouter` command and argument of its
parser, and every route of its HTTP server. The operators' console examples are run as written, their output
compared with the page's.
"""

from __future__ import annotations

import argparse
import ast
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import pytest

from router.cli import _parser
from router.web.console import add_console
from router.web.console_core import Console
from router.web.http_api import ApiConfig, make_app
from tests.conftest import ROOT

DOCS = ROOT / "docs"
REFERENCE = DOCS / "reference.md"
BIN = Path(sys.executable).parent


def build(config_dir: Path, site: Path) -> subprocess.CompletedProcess[str]:
    """`mkdocs build --strict`, as the README says, with no network needed (the site loads nothing)."""
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}  # Material's notice of its successor, not about our pages
    return subprocess.run(
        [str(BIN / "mkdocs"), "build", "--strict", "--site-dir", str(site)],
        cwd=config_dir,
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )


def test_the_site_builds_strictly_with_no_warning(tmp_path: Path) -> None:
    result = build(ROOT, tmp_path / "site")
    assert result.returncode == 0, result.stderr
    assert "WARNING" not in result.stderr, result.stderr
    for page in ("operators", "office", "deploying", "simulator", "developers", "reference", "scaling"):
        assert (tmp_path / "site" / page / "index.html").is_file(), page
    # The repository's files a page links to are in the site, and the links point there.
    assert (tmp_path / "site" / "repository" / "schedule.yaml").read_bytes() == (ROOT / "schedule.yaml").read_bytes()
    operators = (tmp_path / "site" / "operators" / "index.html").read_text(encoding="utf-8")
    assert 'href="../repository/schedule.yaml"' in operators
    # Nothing from elsewhere: no web fonts, no script or stylesheet from another host.
    for html in (tmp_path / "site").rglob("*.html"):
        text = html.read_text(encoding="utf-8")
        assert not re.search(r"<(?:script|link)[^>]+(?:src|href)=\"(?:https?:)?//", text), html


@pytest.mark.parametrize(
    ("page", "broken", "complaint"),
    [
        ("operators.md", "[the rules](no-such-page.md)", "no-such-page.md"),
        ("operators.md", "[the rules](reference.md#no-such-heading)", "no-such-heading"),
        ("office.md", "[the file](../no-such-file.yaml)", "no-such-file.yaml"),
    ],
)
def test_a_broken_link_fails_the_build(tmp_path: Path, page: str, broken: str, complaint: str) -> None:
    """What the strict build is for: a link to a page, an anchor or a repository file that is not there."""
    copy = tmp_path / "repo"
    shutil.copytree(DOCS, copy / "docs")
    (copy / "scripts").mkdir()
    shutil.copy(ROOT / "scripts" / "mkdocs_hooks.py", copy / "scripts")
    shutil.copy(ROOT / "mkdocs.yml", copy)
    for name in ("schedule.yaml", "LICENSE", "THIRD-PARTY.md", "BENCHMARKS.md"):
        shutil.copy(ROOT / name, copy)
    shutil.copytree(ROOT / "prompts", copy / "prompts", ignore=shutil.ignore_patterns("sounds"))
    shutil.copytree(ROOT / "dialplan", copy / "dialplan")
    assert build(copy, tmp_path / "site").returncode == 0, "the copy should build before it is broken"
    with (copy / "docs" / page).open("a", encoding="utf-8") as f:
        f.write(f"\nSee {broken}.\n")
    result = build(copy, tmp_path / "site")
    assert result.returncode != 0
    assert complaint in result.stderr


def test_a_page_left_out_of_the_navigation_fails_the_build(tmp_path: Path) -> None:
    copy = tmp_path / "repo"
    shutil.copytree(ROOT, copy, ignore=shutil.ignore_patterns(".venv", ".git", "site", "test-artifacts", "*cache*"))
    (copy / "docs" / "forgotten.md").write_text("# Forgotten\n", encoding="utf-8")
    result = build(copy, tmp_path / "site")
    assert result.returncode != 0
    assert "forgotten.md" in result.stderr


def test_the_readme_is_short_and_starts_with_the_two_commands() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(readme.splitlines()) <= 200
    assert readme.startswith(
        "# callrouter\n\n```sh\n"
        "scripts/setup && .venv/bin/python scripts/demo.py   # install, then route a call to 1818 right now"
        " through the shipped schedule\n"
        "scripts/test                                        # every test (lint, types, pytest; a real"
        " Asterisk 22 tier included)\n```\n"
    )
    # The README is read on the forge, outside the site: its own links must lead to files that are there.
    for target in re.findall(r"\]\(([^)#:]+)[^)]*\)|src=\"([^\"]+)\"", readme):
        path = next(t for t in target if t)
        assert (ROOT / path).exists(), path


# The reference: environment variables.


def names_in(folders: list[Path]) -> set[str]:
    """The environment variables named as strings in the source: the router reads each by its name."""
    found: set[str] = set()
    for folder in folders:
        for path in [folder] if folder.is_file() else folder.rglob("*"):
            if path.is_file() and path.suffix in {".py", ""} and "__pycache__" not in path.parts:
                text = path.read_text(encoding="utf-8", errors="replace")
                found |= set(re.findall(r"[\"'$]\{?((?:CALLROUTER|ARI)_[A-Z_]+)", text))
    return found


def documented_variables(heading: str) -> set[str]:
    """The variables in the first column of the table that follows the heading."""
    text = REFERENCE.read_text(encoding="utf-8")
    section = text[text.index(heading) :]
    table = re.search(r"^\| variable .*?(?=^$)", section, flags=re.MULTILINE | re.DOTALL)
    assert table is not None, heading
    return {name for row in table[0].splitlines()[2:] for name in re.findall(r"`([A-Z_]+)`", row.split(" | ")[0])}


def test_every_environment_variable_the_router_reads_is_in_the_reference() -> None:
    router_reads = names_in([ROOT / "router"])
    assert {"ARI_URL", "CALLROUTER_SMTP", "CALLROUTER_LOG_FORMAT"} <= router_reads  # the scan finds them
    assert documented_variables("## Environment variables") == router_reads


def test_every_variable_of_the_tests_and_scripts_is_in_the_reference() -> None:
    used = names_in([ROOT / "tests", ROOT / "bench", ROOT / "scripts", ROOT / ".ci"]) - names_in([ROOT / "router"])
    assert documented_variables("For the tests, the benchmarks") == used


# The reference: the schedule file's keys.


def schedule_keys() -> set[str]:
    """Every key the schedule's reader takes: the `required` and `optional` of each of its `mapping()` calls
    (yaml_reader.py and the readers it is built on, yaml_*.py)."""
    keys: set[str] = set()
    readers = sorted((ROOT / "router" / "schedule").glob("yaml_*.py"))
    for node in (n for path in readers for n in ast.walk(ast.parse(path.read_text(encoding="utf-8")))):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "mapping":
            for keyword in node.keywords:
                if keyword.arg in {"required", "optional"}:
                    constants = (c.value for c in ast.walk(keyword.value) if isinstance(c, ast.Constant))
                    keys |= {value for value in constants if isinstance(value, str)}
    return keys


def test_every_key_of_the_schedule_file_is_in_the_reference() -> None:
    text = REFERENCE.read_text(encoding="utf-8")
    section = text[text.index("## The schedule file") : text.index("## Commands")]
    documented = {key for row in section.splitlines() for key in re.findall(r"`([a-z_]+)`", row.split(" | ")[0])}
    assert {"lines", "queue", "after_close", "overnight", "subdivision"} <= schedule_keys()  # the scan finds them
    assert documented == schedule_keys()


# The reference: commands.


def commands(parser: argparse.ArgumentParser, path: str = "callrouter") -> Iterator[tuple[str, set[str]]]:
    """Every command of the parser with its arguments: option strings, and positional arguments by name."""
    arguments: set[str] = set()
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from commands(sub, f"{path} {name}")
        elif not isinstance(action, argparse._HelpAction):
            arguments |= set(action.option_strings) or {action.dest}
            arguments |= {str(choice) for choice in action.choices or ()}
    yield path, arguments


def documented_commands() -> dict[str, set[str]]:
    """Each `### \\`callrouter ...\\`` section of the reference, with the arguments its table names."""
    text = REFERENCE.read_text(encoding="utf-8")
    found: dict[str, set[str]] = {}
    for match in re.finditer(r"^### `(callrouter[^`]*)`\n(.*?)(?=^#)", text, flags=re.MULTILINE | re.DOTALL):
        rows = [row for row in match[2].splitlines() if row.startswith("| `")]
        found[match[1]] = {
            word for row in rows for word in re.findall(r"`([^`]+)`", row) if not word.isupper()
        }  # FILE, DIR: what an option takes, not a name
    return found


def test_every_command_and_argument_is_in_the_reference() -> None:
    documented = documented_commands()
    actual = dict(commands(_parser()))
    assert "callrouter override" in actual
    assert set(documented) == set(actual)
    for command, arguments in actual.items():
        assert arguments <= documented[command], (command, arguments - documented[command])


# The reference: the HTTP server's routes.


def served_routes() -> set[tuple[str, str]]:
    """The routes of the router's HTTP server: the API and the console, as the router assembles them.
    Nothing is served: only the route table is read, so the stores and the ARI client are never touched."""
    nothing = cast(Any, None)
    app = make_app(nothing, nothing, nothing, nothing, nothing, ApiConfig("127.0.0.1", 0, "t" * 32))
    add_console(app, Console(nothing, nothing, nothing, nothing, nothing, dict, {}, nothing))
    routes = set()
    for route in app.router.routes():
        info = route.resource.get_info() if route.resource is not None else {}
        path = info.get("path") or info.get("formatter")
        if route.method != "HEAD":
            routes.add((route.method, str(path)))
    return routes


def test_every_route_of_the_http_server_is_in_the_reference() -> None:
    text = REFERENCE.read_text(encoding="utf-8")
    section = text[text.index("## The HTTP API") :]
    documented = set(re.findall(r"`(GET|POST|PUT|DELETE) (/[^` ]*)", section))
    served = served_routes()
    assert ("GET", "/readyz") in served  # the scan sees the API
    assert ("POST", "/ui/linje/vis") in served  # and the console
    assert documented == served


# The operators' examples, run as written.


def console_blocks(page: Path) -> list[str]:
    return re.findall(r"^```console\n(.*?)^```$", page.read_text(encoding="utf-8"), flags=re.MULTILINE | re.DOTALL)


def expected_output(block: str) -> re.Pattern[str]:
    """The block's output lines as a pattern: `...` stands for what the page leaves out, and line breaks
    for any white space (the page wraps long lines)."""
    lines = [line for line in block.splitlines() if not line.startswith("$ ")]
    words = " ".join(lines).split()
    pattern = r"\s+".join(r".*?".join(re.escape(part) for part in word.split("...")) for word in words)
    return re.compile(pattern, flags=re.DOTALL)


def run_block(block: str, folder: Path) -> str:
    script = "\n".join(line[2:] for line in block.splitlines() if line.startswith("$ "))
    result = subprocess.run(
        ["bash", "-c", script],
        cwd=folder,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,  # interleaved, as at a terminal
        text=True,
        timeout=60,
        env={**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}"},
    )
    return result.stdout


def test_the_operators_examples_print_what_the_page_shows(tmp_path: Path) -> None:
    """In a folder with the shipped schedule, and for `check`, the shipped schedule with the typo the page's
    error names (`1700` for `17:00` in Thursday's hours of 2024), so the error it shows is the real one."""
    blocks = console_blocks(DOCS / "operators.md")
    assert len(blocks) == 3
    shipped = (ROOT / "schedule.yaml").read_text(encoding="utf-8")
    assert shipped.count("thu: 15:00-17:00") == 1
    for i, block in enumerate(blocks):
        folder = tmp_path / str(i)
        folder.mkdir()
        typo = shipped.replace("thu: 15:00-17:00", "thu: 15:00-1700") if "callrouter check" in block else shipped
        (folder / "schedule.yaml").write_text(typo, encoding="utf-8")
        out = run_block(block, folder)
        assert expected_output(block).fullmatch(out.strip()), f"the page shows\n{block}\nthe commands printed\n{out}"
