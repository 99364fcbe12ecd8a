"""``dialer simulator`` and ``python -m dialer.simulator``: run the telephony provider simulator
(Twilio wire format).

Credentials come from TWILIO_ACCOUNT_SID / TWILIO_AUTH_TOKEN when set, else the fixed test
values ``AC00000000000000000000000000000000`` / ``simulator-token``: point the dialer at the
simulator with the same two variables and ``DIALER_TWILIO_API_BASE=<the printed URL>``.
With ``--smtp-port``, an SMTP sink runs beside it (it needs the development dependencies).
"""

from __future__ import annotations

from importlib.util import find_spec
from typing import Annotated, Any

import typer

from dialer.errors import InvalidInput, Problem
from dialer.simulator.config import (
    DEFAULT_ACCOUNT_SID,
    DEFAULT_AUTH_TOKEN,
    DEFAULT_OUTCOME_MIX,
    SmtpSinkOptions,
    config_from,
)
from dialer.simulator.server import serve

DEFAULT_PORT = 8765
DEFAULT_OUTCOMES = ",".join(
    f"{outcome}={weight}" for outcome, weight in DEFAULT_OUTCOME_MIX.items()
)
SECONDS = "simulated seconds"


def simulator(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[
        int, typer.Option(help="Port to listen on; 0 picks a free one.")
    ] = DEFAULT_PORT,
    speed: Annotated[float, typer.Option(help="Simulated seconds per real second.")] = 1.0,
    dialect: Annotated[
        str,
        typer.Option(
            help="Wire format: twilio, plivo (REST v1, V3 signatures) or telnyx (Call Control "
            "v2, Ed25519 webhooks; the public key is printed and in GET /_sim/config)."
        ),
    ] = "twilio",
    account_sid: Annotated[
        str, typer.Option(envvar="TWILIO_ACCOUNT_SID", help="Account SID clients must use.")
    ] = DEFAULT_ACCOUNT_SID,
    auth_token: Annotated[
        str,
        typer.Option(
            envvar="TWILIO_AUTH_TOKEN",
            show_default=False,
            help=f"Auth token clients must use; callbacks are signed with it "
            f"(default {DEFAULT_AUTH_TOKEN}).",
        ),
    ] = DEFAULT_AUTH_TOKEN,
    outcomes: Annotated[
        str,
        typer.Option(help="Outcome weights: answer, no_answer, busy, failed, dropped, machine."),
    ] = DEFAULT_OUTCOMES,
    override: Annotated[
        list[str] | None,
        typer.Option(help="NUMBER=OUTCOME: always this outcome for this number. Repeatable."),
    ] = None,
    cps: Annotated[float, typer.Option(help="Creates accepted per simulated second.")] = 100.0,
    ring_min: Annotated[float, typer.Option(help=f"Shortest ring before answer, {SECONDS}.")] = 2.0,
    ring_max: Annotated[float, typer.Option(help=f"Longest ring before answer, {SECONDS}.")] = 12.0,
    talk_mean: Annotated[float, typer.Option(help=f"Mean talk time, {SECONDS}.")] = 30.0,
    machine_rate: Annotated[
        float, typer.Option(help="Fraction of answered calls an answering machine picks up.")
    ] = 0.0,
    error_rate: Annotated[float, typer.Option(help="Fraction of creates answered 5xx.")] = 0.0,
    lost_callback_rate: Annotated[
        float, typer.Option(help="Fraction of callbacks never sent.")
    ] = 0.0,
    duplicate_callback_rate: Annotated[
        float, typer.Option(help="Fraction of callbacks sent twice.")
    ] = 0.0,
    reorder_rate: Annotated[
        float, typer.Option(help="Fraction of non-terminal callbacks sent after the next one.")
    ] = 0.0,
    response_delay: Annotated[
        float, typer.Option(help=f"Delay before answering a create, {SECONDS}.")
    ] = 0.0,
    price_per_minute: Annotated[
        float, typer.Option(help="A call's price per started minute of talk (USD).")
    ] = 0.013,
    price_delay: Annotated[
        float, typer.Option(help=f"Delay after a call ends before its price shows, {SECONDS}.")
    ] = 30.0,
    seed: Annotated[int | None, typer.Option(help="Random seed, for a replayable run.")] = None,
    smtp_port: Annotated[
        int | None,
        typer.Option(help="Also run the SMTP sink on this port (0 picks a free one); off unset."),
    ] = None,
    smtp_starttls: Annotated[
        bool, typer.Option(help="Offer STARTTLS on the SMTP sink (a self-signed certificate).")
    ] = False,
    smtp_username: Annotated[
        str | None, typer.Option(help="Require AUTH PLAIN/LOGIN with this name on the sink.")
    ] = None,
    smtp_password: Annotated[
        str | None,
        typer.Option(envvar="SIMULATOR_SMTP_PASSWORD", help="The password AUTH requires."),
    ] = None,
) -> None:
    """Run the telephony provider simulator (Twilio, Plivo or Telnyx wire format) until Ctrl-C.

    The account is the Twilio account SID, the Plivo auth id or the Telnyx connection id; the
    token is the Twilio or Plivo auth token, or the Telnyx API key."""
    settings: dict[str, Any] = {
        "dialect": dialect,
        "account_sid": account_sid,
        "auth_token": auth_token,
        "seed": seed,
        "speed": speed,
        "cps": cps,
        "ring_min": ring_min,
        "ring_max": ring_max,
        "talk_mean": talk_mean,
        "machine_rate": machine_rate,
        "error_rate": error_rate,
        "lost_callback_rate": lost_callback_rate,
        "duplicate_callback_rate": duplicate_callback_rate,
        "reorder_rate": reorder_rate,
        "response_delay": response_delay,
        "price_per_minute": price_per_minute,
        "price_delay": price_delay,
    }
    try:
        settings["outcome_mix"] = parse_pairs("outcomes", outcomes.split(","))
        settings["outcome_overrides"] = parse_pairs("override", override or [])
        config = config_from(settings)
        smtp = _smtp_options(host, smtp_port, smtp_starttls, smtp_username, smtp_password)
    except InvalidInput as exc:
        for problem in exc.problems:
            typer.echo(f"error: {problem}", err=True)
        raise typer.Exit(code=2) from exc
    if smtp is not None and find_spec("aiosmtpd") is None:
        typer.echo("error: the SMTP sink needs aiosmtpd: pip install 'dialer[dev]'", err=True)
        raise typer.Exit(code=2)
    serve(config, host, port, smtp)


def _smtp_options(
    host: str, port: int | None, starttls: bool, username: str | None, password: str | None
) -> SmtpSinkOptions | None:
    if port is None:
        return None
    return SmtpSinkOptions(host, port, starttls, username, password)


def parse_pairs(option: str, items: list[str]) -> dict[str, Any]:
    """['answer=0.6', ...] -> {'answer': 0.6, ...}; numbers where they parse as numbers."""
    pairs: dict[str, Any] = {}
    for item in (text.strip() for text in items):
        if not item:
            continue
        key, equals, value = item.partition("=")
        if not equals or not key.strip():
            raise InvalidInput(Problem(option, f"{item!r} is not KEY=VALUE"))
        try:
            pairs[key.strip()] = float(value)
        except ValueError:
            pairs[key.strip()] = value.strip()
    return pairs
