"""MkDocs hook: the command-line reference, written from lstm-viz's own argparse parser at
build time, so the page always says what ``lstm-viz --help`` says.

A page that holds the line ``<!-- cli-reference -->`` gets, in its place, one section per
command (``lstm-viz``, ``lstm-viz export``, ``lstm-viz corpus trace``, ...): its description,
its usage line, a table of its options per argument group, and its examples.
"""

from __future__ import annotations

import argparse
import os

MARKER = "<!-- cli-reference -->"


def _parser() -> argparse.ArgumentParser:
    # imported here so that a build without the package installed fails with a clear error
    # only on the page that needs it
    from lstm_viz_app.cli import build_parser

    return build_parser()


def _cell(text: str) -> str:
    """Text for one cell of a Markdown table."""
    text = " ".join(text.split())
    for char in "\\|*<":
        text = text.replace(char, "\\" + char)
    return text


def _invocation(action: argparse.Action, formatter: argparse.HelpFormatter) -> str:
    if not action.option_strings:
        return formatter._metavar_formatter(action, action.dest)(1)[0]
    if action.nargs == 0:
        return ", ".join(action.option_strings)
    metavar = formatter._format_args(action, action.dest.upper())
    return ", ".join(f"{option} {metavar}" for option in action.option_strings)


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _section(parser: argparse.ArgumentParser, depth: int) -> list[str]:
    formatter = parser._get_formatter()
    lines = [f"{'#' * depth} `{parser.prog}`", ""]
    if parser.description:
        lines += [" ".join(parser.description.split()), ""]
    usage = parser.format_usage().rstrip()
    lines += ["```text", usage, "```", ""]
    for group in parser._action_groups:
        rows = []
        for action in group._group_actions:
            if isinstance(action, argparse._SubParsersAction) or action.help == argparse.SUPPRESS:
                continue
            help_text = formatter._expand_help(action) if action.help else ""
            rows.append(f"| `{_invocation(action, formatter)}` | {_cell(help_text)} |")
        if rows:
            lines += [f"**{group.title.capitalize()}**", "", "| Option | Meaning |",
                      "|---|---|", *rows, ""]
    commands = _subcommands(parser)
    if commands:
        lines += ["| Command | What it does |", "|---|---|"]
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for choice in action._choices_actions:
                    lines.append(f"| `{choice.dest}` | {_cell(choice.help or '')} |")
        lines.append("")
    if parser.epilog:
        lines += ["```text", parser.epilog.strip("\n"), "```", ""]
    for command in commands.values():
        lines += _section(command, min(depth + 1, 5))
    return lines


def reference() -> str:
    """The whole command line as Markdown."""
    # argparse wraps usage lines to the terminal's width: fix it so that every build agrees
    os.environ["COLUMNS"] = "100"
    return "\n".join(_section(_parser(), 3))


def on_page_markdown(markdown: str, page, config, files) -> str:  # noqa: ARG001 - MkDocs API
    if MARKER in markdown:
        markdown = markdown.replace(MARKER, reference())
    return markdown


if __name__ == "__main__":  # preview: python docs/hooks/cli_reference.py
    print(reference())
