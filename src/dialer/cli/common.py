"""What every command shares: running its coroutine, and turning errors into clear messages."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

import typer
from rich.console import Console

from dialer.errors import DialerError, InvalidInput

errors = Console(stderr=True)
T = TypeVar("T")


def run_command(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run a command's coroutine; bad input becomes a clear message and exit code 2."""
    try:
        return asyncio.run(coroutine)
    except InvalidInput as exc:
        errors.print("[bold red]Invalid input:[/]")
        for problem in exc.problems:
            errors.print(f"  {problem.location}: {problem.message}", markup=False, highlight=False)
        raise typer.Exit(2) from exc
    except DialerError as exc:
        errors.print(f"[bold red]Error:[/] {exc}")
        raise typer.Exit(1) from exc
