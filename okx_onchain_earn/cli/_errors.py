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


def _okx(exc: OkxAPIError) -> str:
    where = f" on {exc.endpoint}" if exc.endpoint else ""
    return f"OKX error {exc.code or '?'}{where}: {exc.msg or '(no message)'}"


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
        look = (
            f"`okx-earn active` and look for tag {exc.tag or tag}"
            if (exc.tag or tag)
            else "`okx-earn active` (and `okx-earn history`)"
        )
        if exc.ord_id:
            look += f" / order {exc.ord_id}"
        return Failure(
            ExitCode.OUTCOME_UNKNOWN,
            f"Outcome unknown: {exc}\nThe request reached OKX but no answer came back, so it"
            f" may or may not have been executed. Check {look} before retrying;"
            " retrying blindly may do it twice.",
        )
    if isinstance(exc, OkxAPIError):
        return Failure(ExitCode.API, _okx(exc))
    if isinstance(exc, (OkxTransportError, RateLimiterUnavailable)):
        return Failure(
            ExitCode.NETWORK,
            f"Network error talking to {host or 'OKX'}: {exc}\nCheck the connection and"
            " the --host value.",
        )
    if isinstance(exc, OkxError):
        return Failure(ExitCode.API, f"OKX error: {exc}")
    return None
