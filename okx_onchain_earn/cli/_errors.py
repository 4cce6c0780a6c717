"""Exit codes, and the message that tells the user what went wrong and what to do.

Messages name the OKX code and message, the host and where the credentials came from,
never a secret.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from ..errors import (
    AuthenticationError,
    OkxAPIError,
    OkxError,
    OkxTransportError,
    OrderOutcomeUnknownError,
    PermissionDeniedError,
    RateLimiterUnavailable,
    TimestampError,
    WrongHostError,
)
from ._config import ConfigError

__all__ = ["ExitCode", "Failure", "describe_failure"]


class ExitCode(enum.IntEnum):
    """The process exit codes of ``okx-earn``."""

    OK = 0
    #: The demo finished but saw refusals (429s).
    DEMO_FAILED = 1
    USAGE = 2
    AUTH = 3
    API = 4
    NETWORK = 5
    OUTCOME_UNKNOWN = 6


@dataclass(frozen=True, slots=True)
class Failure:
    """What to print and which code to exit with.

    Attributes:
        code: The exit code.
        message: One or more lines for stderr.
    """

    code: ExitCode
    message: str


#: Calls the client makes on its own, in the words of someone who never asked for them.
_BEHIND_THE_SCENES = {
    "account_config": "while looking up this key's user id",
    "public_time": "while reading OKX's clock",
}


def _where(endpoint: str) -> str:
    """Where an error happened: the user's own command, or the client's lookup."""
    if not endpoint:
        return ""
    return " " + _BEHIND_THE_SCENES.get(endpoint, f"on {endpoint}")


def _okx(exc: OkxAPIError) -> str:
    return f"OKX error {exc.code or '?'}{_where(exc.endpoint)}: {exc.msg or '(no message)'}"


def _first_error(exc: OrderOutcomeUnknownError) -> str:
    """What made the outcome unknown at first (a lost connection, a timeout, 50004).

    The client's reconciliation wraps the first unknown outcome: its message says what
    happened on the wire, followed by the caveat this message states once itself.
    """
    first = exc
    while isinstance(first.__cause__, OrderOutcomeUnknownError):
        first = first.__cause__
    if first is exc and exc.checked:
        return ""  # only the reconciliation's summary: nothing more about the wire
    text = str(first).removesuffix("; the order may or may not have been executed")
    return text.removeprefix(f"{first.endpoint}: ") if first.endpoint else text


def _outcome_unknown(exc: OrderOutcomeUnknownError, tag: str | None) -> Failure:
    tag = exc.tag or tag
    action = exc.endpoint or "trade"
    first = _first_error(exc)
    why = f" ({first})" if first else ""
    coin = action.split("_", 1)[0]
    if action == "funding_transfer" and tag:
        look = f"`okx-earn transfer-state --client-id {tag}`"
    elif coin in ("eth", "sol"):
        look = f"`okx-earn {coin} history`"
    elif tag:
        look = f"`okx-earn active --tag {tag}` (then `okx-earn history --tag {tag}`)"
    elif exc.ord_id:
        look = f"order {exc.ord_id}'s state with `okx-earn active` (and `okx-earn history`)"
    else:
        look = "`okx-earn active` (and `okx-earn history`)"
    checks = len([c for c in exc.checked if not c.startswith("check failed")])
    searched = (
        f"; {checks} look-up{'s' if checks != 1 else ''} since did not find it" if checks else ""
    )
    return Failure(
        ExitCode.OUTCOME_UNKNOWN,
        f"Outcome unknown: the {action} was sent but no usable answer came back{why}."
        f" It was not re-sent{searched}, so it may or may not have been executed.\n"
        f"Check {look} before retrying: retrying blindly may {action} twice.",
    )


def describe_failure(
    exc: BaseException, *, host: str = "", source: str = "", tag: str | None = None
) -> Failure | None:
    """Maps an exception to an exit code and a helpful message.

    Args:
        exc: What the command raised.
        host: The REST host used, for messages.
        source: Where the credentials came from, for messages.
        tag: The purchase tag sent, if any, for outcome-unknown advice.

    Returns:
        The failure, or ``None`` for exceptions the CLI does not know (a bug: let it
        propagate with its traceback).
    """
    creds = f" (credentials from {source})" if source else ""
    if isinstance(exc, ConfigError):
        return Failure(ExitCode.USAGE, f"Configuration error: {exc}")
    if isinstance(exc, ValueError):
        return Failure(ExitCode.USAGE, f"Invalid argument: {exc}")
    if isinstance(exc, WrongHostError):
        return Failure(
            ExitCode.AUTH,
            f"{_okx(exc)}\nThe API key does not exist on {host or 'this host'}{creds}."
            " Keys of accounts registered in the EEA work only on --host eea"
            " (https://eea.okx.com), US/Australian accounts on --host us"
            " (https://us.okx.com); others on --host www.",
        )
    if isinstance(exc, TimestampError):
        return Failure(
            ExitCode.AUTH,
            f"{_okx(exc)}\nThe request timestamp was refused: this machine's clock is more"
            " than 30 s off OKX's time even after re-syncing. Fix the system clock"
            " (enable NTP time synchronisation) and try again.",
        )
    if isinstance(exc, PermissionDeniedError):
        if exc.code == "50038":
            hint = "This feature is not available in demo trading: drop --demo to use live."
        else:
            hint = (
                "The API key lacks a permission: offers/active/history need 'Read',"
                " purchase/redeem/cancel need 'Trade' (and an IP whitelist if OKX asks for"
                " one). Edit the key's permissions on okx.com."
            )
        return Failure(ExitCode.AUTH, f"{_okx(exc)}\n{hint}")
    if isinstance(exc, AuthenticationError):
        hint = f"Authentication failed: check the API key, secret key and passphrase{creds}."
        if exc.code == "50101":
            hint += (
                " The key does not match the environment: a demo-trading key needs --demo,"
                " a live key --live (or no --demo)."
            )
        elif exc.code == "50110":
            hint += " This IP address is not on the key's whitelist."
        return Failure(ExitCode.AUTH, f"{_okx(exc)}\n{hint}")
    if isinstance(exc, OrderOutcomeUnknownError):
        return _outcome_unknown(exc, tag)
    if isinstance(exc, OkxAPIError):
        return Failure(ExitCode.API, _okx(exc))
    if isinstance(exc, (OkxTransportError, RateLimiterUnavailable)):
        during = _BEHIND_THE_SCENES.get(getattr(exc, "endpoint", ""), "")
        return Failure(
            ExitCode.NETWORK,
            f"Network error talking to {host or 'OKX'}{' ' + during if during else ''}:"
            f" {exc}\nCheck the connection and the --host value.",
        )
    if isinstance(exc, OkxError):
        return Failure(ExitCode.API, f"OKX error: {exc}")
    return None
