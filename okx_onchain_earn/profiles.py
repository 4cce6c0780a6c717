"""The profiles file: API keys of many (sub-)accounts in one TOML file.

One ``[profiles.NAME]`` table per sub-account (each sub-account has its own keys and
user id):

    [profiles.main]
    api_key = "…"
    secret_key = "…"
    passphrase = "…"
    uid = "4480100000000001"      # optional: saves one lookup (an integer is accepted)
    name = "treasury"             # optional label (the profile name by default)
    host = "eea"                  # optional: www | openapi | us | eea | an http(s) URL
    demo = false                  # optional: demo-trading key

    [profiles.sub1]
    api_key = "…"
    secret_key = "…"
    passphrase = "…"

    [profiles.bybit-main]         # a key of another venue: hashkey | xt | bybit
    venue = "bybit"
    api_key = "…"
    secret_key = "…"              # no passphrase on these venues
    uid = "…"                     # optional: the venue account the key belongs to
    host = "https://api.bybit.com"  # optional: the venue's own host by default

``read_profiles`` reads and checks such a file and returns its OKX profiles (a
table without ``venue`` is OKX's); ``read_venue_profiles`` returns the others.
``write_profiles`` writes one.
The ``okx-earn`` command and ``from_profiles`` both
read it through this module. The file holds secrets: keep it private (mode 0600).
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
import tomllib
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from yarl import URL

from ._constants import HOST_EEA, HOST_OPENAPI, HOST_US, HOST_WWW
from .auth import Credentials, _Secret, _usable

__all__ = [
    "HOSTS",
    "VENUES",
    "Profile",
    "ProfileError",
    "ProfilePermissionWarning",
    "VenueProfile",
    "read_profiles",
    "read_venue_profiles",
    "resolve_host",
    "write_profiles",
]

#: Host short names (the ``host`` key of a profile, the CLI's ``--host``) and their URLs.
HOSTS: dict[str, str] = {
    "www": HOST_WWW,
    "openapi": HOST_OPENAPI,
    "us": HOST_US,
    "eea": HOST_EEA,
}

#: The venues a profile may name (``venue = "…"``); ``okx`` when it names none.
VENUES = ("okx", "hashkey", "xt", "bybit")

_SECRET_KEYS = ("api_key", "secret_key", "passphrase")
_KEYS = frozenset((*_SECRET_KEYS, "uid", "name", "host", "demo", "venue"))
_VENUE_KEYS = frozenset(("venue", "api_key", "secret_key", "uid", "name", "host"))


class ProfileError(ValueError):
    """A profiles file cannot be read or is malformed, or a host is unknown.

    The message names the file and the profile at fault, never a secret.
    """


class ProfilePermissionWarning(UserWarning):
    """A profiles file can be read or written by users other than its owner.

    The file holds secrets; ``chmod 600`` it. It is still read.
    """


@dataclass(frozen=True, slots=True)
class Profile:
    """One ``[profiles.NAME]`` table of a profiles file.

    Attributes:
        name: The profile's name (the ``NAME`` of ``[profiles.NAME]``).
        credentials: Its API key; ``credentials.name`` is the ``name`` key, else the
            profile's name. The secrets never appear in ``repr``.
        host: The REST base URL its ``host`` key names, or ``None`` if it has none.
        demo: Its ``demo`` key, or ``None`` if it has none.
    """

    name: str
    credentials: Credentials
    host: str | None
    demo: bool | None


@dataclass(frozen=True, slots=True)
class VenueProfile:
    """A profile of another venue (``venue = "hashkey" | "xt" | "bybit"``).

    Attributes:
        name: The profile's name.
        venue: The venue it is a key of.
        api_key: The venue's API key.
        secret_key: Its secret (never in ``repr``).
        uid: The venue account the key belongs to, if given.
        host: The REST base URL (an http(s) URL), or ``None`` for the venue's own.
    """

    name: str
    venue: str
    api_key: str
    secret_key: str = field(repr=False)
    uid: str | None = None
    host: str | None = None

    def reader_kwargs(self) -> dict[str, str]:
        """Keyword arguments for the venue's reader (``BybitEarn(**kwargs)``)."""
        out = {"api_key": self.api_key, "secret_key": self.secret_key}
        if self.uid is not None:
            out["uid"] = self.uid
        if self.host is not None:
            out["base_url"] = self.host
        return out


def resolve_host(value: str | None) -> str:
    """Turns a host name or an http(s) URL into a REST base URL.

    Args:
        value: ``www``, ``openapi``, ``us`` or ``eea`` (any case), an ``http://`` or
            ``https://`` URL (a trailing ``/`` is dropped), or ``None`` for ``www``.

    Returns:
        The base URL, for example ``https://eea.okx.com``.

    Raises:
        ProfileError: Neither a known name nor an http(s) URL.
    """
    if value is None:
        return HOST_WWW
    named = HOSTS.get(value.strip().lower())
    if named is not None:
        return named
    if value.startswith(("https://", "http://")) and _has_host(value):
        return value.rstrip("/")
    raise ProfileError(
        f"unknown host {value!r}: use one of {', '.join(HOSTS)} or an http(s):// URL"
    )


def _has_host(url: str) -> bool:
    try:
        return bool(URL(url).host)
    except ValueError:  # yarl refuses some host-less URLs itself, e.g. "http://:80"
        return False


def read_profiles(path: str | os.PathLike[str]) -> dict[str, Profile]:
    """Reads and checks every profile of a profiles file.

    Args:
        path: The profiles file.

    Returns:
        The OKX profiles by name, in file order (empty when the file has none);
        profiles of other venues are checked too, and left out.

    Raises:
        ProfileError: The file cannot be read or is not TOML; ``profiles`` is not a
            table of tables; a profile has an unknown key, lacks ``api_key``,
            ``secret_key`` or ``passphrase``, has a value that is not a non-empty
            string (``uid`` may also be an integer), a key, secret or passphrase
            holding whitespace or control characters, an unknown ``host``, or a
            ``demo`` that is not true or false, or a ``venue`` not in ``VENUES``.

    Warns:
        ProfilePermissionWarning: Users other than the owner may access the file
            (POSIX mode bits beyond 0700); it is read all the same.
    """
    okx, _ = _read_all(Path(path))
    return okx


def read_venue_profiles(path: str | os.PathLike[str]) -> dict[str, VenueProfile]:
    """Reads and checks every profile of a profiles file; returns those of other venues.

    Args:
        path: The profiles file.

    Returns:
        The HashKey, XT and Bybit profiles by name, in file order.

    Raises:
        ProfileError: As ``read_profiles``; a venue profile also needs ``api_key`` and
            ``secret_key``, takes no ``passphrase`` or ``demo``, and its ``host`` must
            be an http(s) URL.

    Warns:
        ProfilePermissionWarning: As ``read_profiles``.
    """
    _, others = _read_all(Path(path))
    return others


def _read_all(source: Path) -> tuple[dict[str, Profile], dict[str, VenueProfile]]:
    try:
        with source.open("rb") as f:
            _check_private(source, os.fstat(f.fileno()).st_mode)
            data = _hide_secrets(tomllib.load(f))
    except FileNotFoundError as exc:
        raise ProfileError(f"profiles file not found: {source}") from exc
    except OSError as exc:
        raise ProfileError(f"cannot read profiles file {source}: {exc.strerror or exc}") from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ProfileError(f"profiles file {source} is not valid TOML: {exc}") from None
    tables = data.get("profiles", {})
    if not isinstance(tables, dict):
        raise ProfileError(
            f"{source}: no [profiles.NAME] tables ('profiles' is a {type(tables).__name__})"
        )
    okx: dict[str, Profile] = {}
    others: dict[str, VenueProfile] = {}
    for name, table in tables.items():
        venue = table.get("venue", "okx") if isinstance(table, dict) else "okx"
        if venue not in VENUES:
            raise ProfileError(
                f"{source}: [profiles.{name}]: venue must be one of {', '.join(VENUES)}"
            )
        if venue == "okx":
            okx[name] = _profile(source, name, table)
        else:
            others[name] = _venue_profile(source, name, venue, table)
    return okx, others


def _check_private(source: Path, mode: int) -> None:
    # POSIX only: on Windows the mode bits do not describe who may read the file.
    if os.name == "posix" and stat.S_ISREG(mode) and mode & 0o077:
        warnings.warn(
            f"profiles file {source} holds secrets but other users can access it"
            f" (mode {oct(stat.S_IMODE(mode))}): chmod 600 {source}",
            ProfilePermissionWarning,
            stacklevel=4,  # the caller of read_profiles or read_venue_profiles
        )


def _hide_secrets(data: dict[str, Any]) -> dict[str, Any]:
    """Masks secrets in the parsed file at once: the tables are locals of every frame
    below, and a traceback recording locals must not show them."""
    tables = data.get("profiles")
    if isinstance(tables, dict):
        for table in tables.values():
            if isinstance(table, dict):
                for key in ("secret_key", "passphrase"):
                    if isinstance(table.get(key), str):
                        table[key] = _Secret(table[key])
    return data


def _profile(source: Path, name: str, table: object) -> Profile:
    where = f"{source}: [profiles.{name}]"
    if not isinstance(table, dict):
        raise ProfileError(f"{where} must be a table")
    unknown = sorted(set(table) - _KEYS)
    if unknown:
        raise ProfileError(
            f"{where} has unknown keys {', '.join(unknown)} (allowed: {', '.join(sorted(_KEYS))})"
        )
    secrets = {key: _text(where, table, key) for key in _SECRET_KEYS}
    missing = [key for key, value in secrets.items() if value is None]
    if missing:
        raise ProfileError(f"{where} is missing {', '.join(missing)}")
    demo = table.get("demo")
    if demo is not None and not isinstance(demo, bool):
        raise ProfileError(f"{where}: demo must be true or false")
    host = _text(where, table, "host")
    try:
        url = None if host is None else resolve_host(host)
    except ProfileError as exc:
        raise ProfileError(f"{where}: {exc}") from None
    uid = _text(where, table, "uid")
    try:
        credentials = Credentials(
            api_key=secrets["api_key"] or "",
            secret_key=secrets["secret_key"] or "",
            passphrase=secrets["passphrase"] or "",
            uid=uid,
            name=_text(where, table, "name") or name,
        )
    except ValueError as exc:  # names the field, never its value
        raise ProfileError(f"{where}: {exc}") from None
    return Profile(name=name, credentials=credentials, host=url, demo=demo)


def _venue_profile(source: Path, name: str, venue: str, table: dict[str, object]) -> VenueProfile:
    where = f"{source}: [profiles.{name}]"
    unknown = sorted(set(table) - _VENUE_KEYS)
    if unknown:
        raise ProfileError(
            f"{where} has keys a {venue} profile does not take: {', '.join(unknown)}"
            f" (allowed: {', '.join(sorted(_VENUE_KEYS))})"
        )
    values = {key: _text(where, table, key) for key in ("api_key", "secret_key", "uid", "host")}
    missing = [key for key in ("api_key", "secret_key") if values[key] is None]
    if missing:
        raise ProfileError(f"{where} is missing {', '.join(missing)}")
    for key in ("api_key", "secret_key", "uid"):
        if values[key] is not None and not _usable(values[key]):
            raise ProfileError(f"{where}: {key} must not hold whitespace or control characters")
    host = values["host"]
    if host is not None and not (host.startswith(("https://", "http://")) and _has_host(host)):
        raise ProfileError(f"{where}: host must be an http(s):// URL")
    return VenueProfile(
        name=name,
        venue=venue,
        api_key=values["api_key"] or "",
        secret_key=_Secret(values["secret_key"] or ""),
        uid=values["uid"],
        host=None if host is None else host.rstrip("/"),
    )


def _text(where: str, table: Mapping[str, object], key: str) -> str | None:
    value = table.get(key)
    if value is None:
        return None
    if key == "uid" and isinstance(value, int) and not isinstance(value, bool):
        return str(value)  # an unquoted uid in TOML is an integer
    if not isinstance(value, str) or not value:
        raise ProfileError(f"{where}: {key} must be a non-empty string")
    return value


def _toml_string(value: str) -> str:
    out = ['"']
    for ch in value:
        if ch in ('"', "\\"):
            out.append("\\" + ch)
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def _render(
    credentials: Iterable[Credentials],
    host: str,
    demo: bool,
    others: Iterable[VenueProfile] = (),
) -> tuple[list[str], str]:
    """The profile names and the file's text. The text comes back masked (its repr is
    ``'***'``): the caller's frame holds no plain secret for a traceback to record."""
    lines = ["# Written by okx-earn. Contains secrets: keep it private.", ""]
    names: list[str] = []
    for i, creds in enumerate(credentials):
        name = creds.name or f"acct{i}"
        if not name.replace("-", "").replace("_", "").isalnum():
            name = f"acct{i}"
        names.append(name)
        lines.append(f"[profiles.{name}]")
        lines.append(f"api_key = {_toml_string(creds.api_key)}")
        lines.append(f"secret_key = {_toml_string(creds.secret_key)}")
        lines.append(f"passphrase = {_toml_string(creds.passphrase)}")
        if creds.uid is not None:
            lines.append(f"uid = {_toml_string(creds.uid)}")
        lines.append(f"host = {_toml_string(host)}")
        lines.append(f"demo = {'true' if demo else 'false'}")
        lines.append("")
    for other in others:
        names.append(other.name)
        lines.append(f"[profiles.{_toml_string(other.name)}]")
        lines.append(f"venue = {_toml_string(other.venue)}")
        lines.append(f"api_key = {_toml_string(other.api_key)}")
        lines.append(f"secret_key = {_toml_string(other.secret_key)}")
        if other.uid is not None:
            lines.append(f"uid = {_toml_string(other.uid)}")
        if other.host is not None:
            lines.append(f"host = {_toml_string(other.host)}")
        lines.append("")
    return names, _Secret("\n".join(lines))


def write_profiles(
    path: Path,
    credentials: Iterable[Credentials],
    *,
    host: str,
    demo: bool = False,
    others: Iterable[VenueProfile] = (),
) -> list[str]:
    """Writes a profiles file (mode 0600) with one profile per key.

    The file is written anew and renamed over any existing one, so it is 0600 even
    when an older file had a wider mode.

    Profiles are named after ``Credentials.name`` (else ``acct<N>``).

    Args:
        path: File to write (its directory is created).
        credentials: The keys to write.
        host: Host every profile uses (a name or URL).
        demo: Demo flag of every profile.
        others: Profiles of other venues, written after the OKX ones.

    Returns:
        The profile names, in file order.
    """
    names, text = _render(credentials, host, demo, others)
    path.parent.mkdir(parents=True, exist_ok=True)
    # A new file (mkstemp: mode 0600 whatever the umask) renamed over the old one:
    # rewriting in place would keep an existing file's wider mode, and anyone who
    # already had it open would read the new secrets through their descriptor.
    target = Path(path).resolve()  # through a symlink: replace what it points to
    fd, temporary = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
    return names
