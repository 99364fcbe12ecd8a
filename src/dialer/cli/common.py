"""What every command shares: running its coroutine, and turning errors into clear messages."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

import typer
from rich.console import Console
from typer.core import TyperGroup

from dialer.errors import DialerError, InvalidInput

errors = Console(stderr=True)
T = TypeVar("T")


def print_problems(exc: InvalidInput) -> None:
    """Each problem on one line of its own (never wrapped), named by where it is."""
    errors.print("[bold red]Invalid input:[/]")
    for problem in exc.problems:
        line = f"  {problem.location}: {problem.message}"
        errors.print(line, markup=False, highlight=False, soft_wrap=True)


def run_command(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run a command's coroutine; bad input becomes a clear message and exit code 2."""
    try:
        return asyncio.run(coroutine)
    except InvalidInput as exc:
        print_problems(exc)
        raise typer.Exit(2) from exc
    except DialerError as exc:
        errors.print(f"[bold red]Error:[/] {exc}")
        raise typer.Exit(1) from exc


class CommandGroup(TyperGroup):
    """The ``dialer`` command group. Bad input met anywhere in a command, such as settings
    read from the environment before its coroutine starts, is reported like the command's
    own (exit code 2) instead of escaping as a traceback."""

    # Typer carries its own copy of click, whose Context it does not export: hence Any.
    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except InvalidInput as exc:
            print_problems(exc)
            raise typer.Exit(2) from exc
