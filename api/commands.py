"""How a ``vigie`` sub-command is declared: every module that adds commands uses these two, so
each command's own ``--help`` says what it does, not only its parent's list."""

from __future__ import annotations

import argparse
from typing import TypeAlias

Subcommands: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


def command(sub: Subcommands, name: str, summary: str) -> argparse.ArgumentParser:
    """A sub-command of ``sub``: ``summary`` is its line in the parent's list and, as a
    sentence, its own description."""
    return sub.add_parser(name, help=summary, description=summary[0].upper() + summary[1:] + ".")


def command_group(sub: Subcommands, name: str, summary: str) -> Subcommands:
    """A sub-command that only holds sub-commands of its own (``vigie NAME COMMAND``)."""
    group = command(sub, name, summary)
    return group.add_subparsers(title=f"{name} commands", metavar="COMMAND")
