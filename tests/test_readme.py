"""The README is the front door: it must show every CLI option and every published column."""

from __future__ import annotations

import argparse

import pytest

import schemas
from conftest import REPO_ROOT
from flows.__main__ import build_parser
from flows.docs import readme_is_current

README = (REPO_ROOT / "README.md").read_text("utf-8")


def _options() -> list[tuple[str, str]]:
    parser = build_parser()
    subparsers = next(action for action in parser._actions if isinstance(action, argparse._SubParsersAction))
    return [
        (command, option)
        for command, subparser in subparsers.choices.items()
        for action in subparser._actions
        for option in action.option_strings
        if option.startswith("--") and option != "--help"
    ]


def test_quickstart_shows_the_two_commands():
    quickstart = README.split("## Quickstart", 1)[1].split("##", 1)[0]
    assert "make run" in quickstart and "make test" in quickstart


@pytest.mark.parametrize(("command", "option"), _options())
def test_every_cli_option_is_in_the_readme(command: str, option: str):
    commands = README.split("## Commands", 1)[1].split("\n## ", 1)[0]
    assert f"python -m flows {command}" in commands
    assert option in commands, f"{command} {option} is missing from README's Commands section"


@pytest.mark.parametrize(("table", "column"), [(entry["table"], entry["column"]) for entry in schemas.dictionary()])
def test_every_published_column_is_in_the_data_dictionary(table: str, column: str):
    section = README.split(f"### `{table}`", 1)[1].split("### ", 1)[0]
    assert f"| `{column}` |" in section


def test_generated_data_dictionary_is_current():
    assert readme_is_current(), "run `python -m flows docs`"
