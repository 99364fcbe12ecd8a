"""Every command shown in the docs is true: each ``dialer …`` line of a shell block in
README.md and docs/*.md (and each ``$ `` line of a transcript, a block with no language) runs
here (a temporary SQLite database, the telephony simulator, the
docs' own example files) and exits 0. A command that cannot run here by its nature is checked
with ``--help`` for every option it shows, and only if it is listed below with the reason; any
other line of a shell block must be listed too. Nothing is skipped silently."""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import typer
import yaml
from typer.testing import CliRunner

from dialer.cli.main import app
from dialer.cli.simproc import simulator_process
from dialer.simulator.config import DEFAULT_ACCOUNT_SID, DEFAULT_AUTH_TOKEN

ROOT = Path(__file__).resolve().parents[3]
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
SHELL_LANGUAGES = {"sh", "bash", "console", "shell"}
OTHER_FENCE = re.compile(r"^```(\w+)\n(.*?)^```", re.S | re.M)

# Commands checked with --help only (every option shown must exist), and why they cannot run.
HELP_ONLY = {
    ("serve",): "a long-running server",
    ("dispatcher",): "a long-running process of the distributed deployment (PostgreSQL, Redis)",
    ("worker",): "a long-running Celery worker (RabbitMQ or Redis, PostgreSQL)",
    ("beat",): "a long-running Celery beat (a broker)",
    ("webhooks",): "a long-running listener",
    ("up",): "starts a whole local cluster on PostgreSQL, Redis and RabbitMQ",
    ("keys", "revoke"): "its argument is an example key id; key ids differ on every run",
    ("dlq", "replay"): "needs a dead letter, which only a failing provider leaves",
    ("dlq", "discard"): "needs a dead letter, which only a failing provider leaves",
}
# Lines of shell blocks that are not `dialer` commands, by their first word, and why they are
# not run here.
NOT_DIALER = {
    "export": "the reader's own deployment; the test sets its own (SQLite, the simulator)",
    "make": "`make demo` and `make test` run the demo and this whole suite",
    "curl": "requests to a running `dialer serve`; the API's own tests cover each endpoint",
    "pip": "installs a package",
    "docker": "needs a Docker daemon; tests/e2e/deploy checks the image and compose file offline",
    "kubectl": "needs a cluster; tests/e2e/deploy renders and validates the manifests offline",
}
# Placeholders in synopsis lines, and the values run in their place.
PLACEHOLDERS = {"ID": "1", "N": "10", "T": "1", "NUMBER": "+12125550142"}
# A documented command run with an extra option, and why: the docs show the common case.
EXTRA_OPTIONS = {
    ("plan", "--simulate"): (["--time-limit", "20"], "the default limit (300 s) is too long"),
}
SIMULATOR_OPTIONS = ["--speed", "500", "--outcomes", "answer=1", "--talk-mean", "5"]
SIMULATOR_OPTIONS += ["--ring-min", "1", "--ring-max", "2", "--cps", "1000"]


@dataclass(frozen=True)
class Documented:
    source: str  # file:line
    words: tuple[str, ...]

    @property
    def id(self) -> str:
        return f"{self.source} {' '.join(self.words)}"


def _commands(text: str) -> Iterator[tuple[int, str]]:
    """Shell lines with their line numbers, continuations and open quotes joined, comment
    lines and a console prompt left out."""
    pending, first = "", 0
    for number, line in enumerate(text.splitlines()):
        line = line.removeprefix("$ ")
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        first = first if pending else number
        pending += line.removesuffix("\\") + (" " if line.endswith("\\") else "\n")
        if not line.endswith("\\") and _complete(pending):
            yield first, pending.strip()
            pending = ""
    assert not pending, f"unfinished shell line: {pending!r}"


def _complete(line: str) -> bool:
    try:
        shlex.split(line, comments=True)
    except ValueError:  # a quote still open: the command goes on on the next line
        return False
    return True


def _prompted(block: str) -> str:
    """A transcript's ``$ `` lines and their continuations; every other line blanked, so
    that line numbers still count from the block's start."""
    kept, going_on = [], False
    for line in block.splitlines():
        taken = going_on or line.startswith("$ ")
        kept.append(line if taken else "")
        going_on = taken and line.endswith("\\")
    return "\n".join(kept)


def _fenced_blocks(text: str) -> Iterator[tuple[int, str, str]]:
    """Each fenced block: the line number of its first line, its language, its text."""
    lines = text.splitlines()
    fence = 0
    while fence < len(lines):
        if not lines[fence].startswith("```"):
            fence += 1
            continue
        end = fence + 1
        while end < len(lines) and not lines[end].startswith("```"):
            end += 1
        yield fence + 2, lines[fence][3:].strip(), "\n".join(lines[fence + 1 : end]) + "\n"
        fence = end + 1


def _shell_blocks(text: str) -> Iterator[tuple[int, str]]:
    """Each shell block's first line number and its commands' text; and those of each block
    with no language, which may be a transcript: its ``$ `` lines are commands."""
    for start, language, block in _fenced_blocks(text):
        if language in SHELL_LANGUAGES:
            yield start, block
        elif not language:
            yield start, _prompted(block)


def documented_commands() -> list[Documented]:
    found = []
    for path in DOCUMENTS:
        text = path.read_text(encoding="utf-8")
        for start, commands in _shell_blocks(text):
            for offset, line in _commands(commands):
                words = tuple(w.strip("[]") for w in shlex.split(line, comments=True))
                found.append(Documented(f"{path.relative_to(ROOT)}:{start + offset}", words))
    return found


def example_block(language: str, first_line: str, document: str = "README.md") -> str:
    """The document's example file of this language that starts with this line."""
    text = (ROOT / document).read_text(encoding="utf-8")
    for block in OTHER_FENCE.finditer(text):
        if block.group(1) == language and block.group(2).startswith(first_line):
            return block.group(2)
    raise AssertionError(f"{document} has no {language} block starting {first_line!r}")


def runnable_campaign() -> str:
    """The README's example campaign with its calendar opened (every day, all day, no start
    or end date): as written it would wait for next week's office hours."""
    campaign: dict[str, Any] = yaml.safe_load(example_block("yaml", "name: spring-reminders"))
    for key in ("start_at", "end_at"):
        campaign.pop(key)
    days = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
    campaign["window"] = {"days": days, "start": "00:00", "end": "24:00"}
    return yaml.safe_dump(campaign)


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """The docs' example files in a folder, a database, and the simulator's environment."""
    folder = tmp_path_factory.mktemp("documented")
    (folder / "campaign.yaml").write_text(runnable_campaign())
    (folder / "contacts.csv").write_text(example_block("csv", "phone,"))
    card = example_block("yaml", "provider: twilio", "docs/economics.md")
    (folder / "twilio-voice.yaml").write_text(card)
    with simulator_process(SIMULATOR_OPTIONS) as simulator:
        yield {
            "folder": str(folder),
            "DIALER_DATABASE_URL": f"sqlite:///{folder / 'docs.db'}",
            "DIALER_TWILIO_API_BASE": simulator,
            "TWILIO_ACCOUNT_SID": DEFAULT_ACCOUNT_SID,
            "TWILIO_AUTH_TOKEN": DEFAULT_AUTH_TOKEN,
            "DIALER_LISTEN": "127.0.0.1:0",
        }


@pytest.fixture
def in_workspace(workspace: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    for name in (
        "DIALER_PUBLIC_BASE_URL",
        "DIALER_TENANT",
        "DIALER_REDIS_URL",
        "DIALER_BROKER_URL",
    ):
        monkeypatch.delenv(name, raising=False)
    for name, value in workspace.items():
        if name != "folder":
            monkeypatch.setenv(name, value)
    monkeypatch.chdir(workspace["folder"])
    return workspace


def command_of(words: tuple[str, ...]) -> tuple[tuple[str, ...], Any]:
    """The subcommand path a line names (``keys create``) and its click command."""
    command: Any = typer.main.get_command(app)
    path: list[str] = []
    for word in words[1:]:
        if not hasattr(command, "commands") or word not in command.commands:
            break
        command = command.commands[word]
        path.append(word)
    return tuple(path), command


def unknown_options(words: tuple[str, ...], command: Any) -> list[str]:
    known = {opt for param in command.params for opt in (*param.opts, *param.secondary_opts)}
    known.add("--help")
    shown = {w.split("=")[0] for w in words if w.startswith("-") and not w[1:2].isdigit()}
    return sorted(shown - known)


def with_placeholders(words: tuple[str, ...]) -> list[str]:
    args = [PLACEHOLDERS.get(w, w) for w in words[1:]]
    for (subcommand, option), (extra, _why) in EXTRA_OPTIONS.items():
        if args[:1] == [subcommand] and option in args:
            args += extra
    return args


DOCUMENTED = documented_commands()


def test_the_docs_show_commands() -> None:
    assert len([d for d in DOCUMENTED if d.words[0] == "dialer"]) >= 20


@pytest.mark.parametrize("documented", DOCUMENTED, ids=lambda d: d.id)
def test_a_documented_command_works(documented: Documented, in_workspace: dict[str, str]) -> None:
    if documented.words[0] != "dialer":
        assert documented.words[0] in NOT_DIALER, f"{documented.id}: not a dialer command"
        return
    path, command = command_of(documented.words)
    assert not unknown_options(documented.words, command), documented.id
    runner = CliRunner()
    if path in HELP_ONLY or "--help" in documented.words:
        result = runner.invoke(app, [*path, "--help"])
    else:
        result = runner.invoke(app, with_placeholders(documented.words))
    assert result.exit_code == 0, (documented.id, result.output, result.exception)
