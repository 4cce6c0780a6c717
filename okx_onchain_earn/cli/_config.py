"""Where the CLI's credentials come from: environment variables or a profiles file.

Nothing here imports click or rich, so the resolution rules are plain functions that
tests call directly. The profiles file's format, its reader and its writer belong to
``okx_onchain_earn.profiles``; this module picks a profile, applies the command
line's ``--host`` and ``--demo``, and turns the format's errors into
``ConfigError`` (exit code 2).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from .. import profiles as _profiles
from ..auth import Credentials
from ..profiles import HOSTS, ProfileError, write_profiles

__all__ = [
    "ENV_API_KEY",
    "ENV_PASSPHRASE",
    "ENV_SECRET_KEY",
    "ENV_UID",
    "HOSTS",
    "ConfigError",
    "Profile",
    "default_config_path",
    "resolve_host",
    "resolve_profile",
    "write_profiles",
]

ENV_API_KEY = "OKX_API_KEY"
ENV_SECRET_KEY = "OKX_SECRET_KEY"
ENV_PASSPHRASE = "OKX_PASSPHRASE"
ENV_UID = "OKX_UID"
_REQUIRED_ENV = (ENV_API_KEY, ENV_SECRET_KEY, ENV_PASSPHRASE)


class ConfigError(Exception):
    """The credentials or settings are missing or malformed (exit code 2)."""


@dataclass(frozen=True, slots=True)
class Profile:
    """Everything a command needs to build a client.

    Attributes:
        credentials: The API key (secrets hidden from ``repr``).
        host: The REST base URL.
        demo: Send the demo-trading header.
        source: Where the credentials came from, for messages (never a secret).
    """

    credentials: Credentials
    host: str
    demo: bool
    source: str


def default_config_path() -> Path:
    """``$XDG_CONFIG_HOME/okx-earn/profiles.toml`` (``~/.config/…`` by default)."""
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "okx-earn" / "profiles.toml"


def resolve_host(value: str | None) -> str:
    """Turns ``www``/``openapi``/``us``/``eea`` or an http(s) URL into a base URL.

    Args:
        value: A host name or URL, or ``None`` for ``www``.

    Returns:
        The REST base URL.

    Raises:
        ConfigError: Neither a known name nor an http(s) URL.
    """
    try:
        return _profiles.resolve_host(value)
    except ProfileError as exc:
        raise ConfigError(str(exc)) from None


def _read(path: Path) -> dict[str, _profiles.Profile]:
    try:
        return _profiles.read_profiles(path)
    except ProfileError as exc:
        raise ConfigError(str(exc)) from None


def _from_profile(
    path: Path, profile: _profiles.Profile, host: str | None, demo: bool | None
) -> Profile:
    return Profile(
        credentials=profile.credentials,
        host=resolve_host(host) if host is not None else profile.host or resolve_host(None),
        demo=bool(profile.demo) if demo is None else demo,
        source=f"profile {profile.name!r} in {path}",
    )


class _Environment(Mapping[str, str]):
    """The environment, with a repr that shows none of it: a traceback's locals (what
    error trackers record) must not carry ``OKX_SECRET_KEY``."""

    __slots__ = ("_source",)

    def __init__(self, source: Mapping[str, str]) -> None:
        self._source = source

    def __getitem__(self, key: str) -> str:
        return self._source[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._source)

    def __len__(self) -> int:
        return len(self._source)

    def __repr__(self) -> str:
        return "<environment variables>"


def resolve_profile(
    *,
    profile: str | None = None,
    config: Path | None = None,
    host: str | None = None,
    demo: bool | None = None,
    environ: Mapping[str, str] | None = None,
) -> Profile:
    """Finds the credentials a command runs with.

    Order: ``--profile NAME`` from the profiles file; else the ``OKX_*`` environment
    variables when any of them is set; else the file's only profile, or its
    ``default`` profile. ``host`` and ``demo`` given on the command line win over the
    profile's.

    Args:
        profile: Profile name (``--profile``).
        config: Profiles file (``--config``); the default path when ``None``.
        host: ``--host`` value, or ``None`` to use the profile's (else ``www``).
        demo: ``--demo`` when given, else ``None`` to use the profile's.
        environ: Environment to read (``os.environ`` by default).

    Raises:
        ConfigError: Nothing usable was found; the message says what to set.
    """
    env = _Environment(os.environ if environ is None else environ)
    path = config if config is not None else default_config_path()
    if profile is not None:
        profiles = _read(path)
        if profile not in profiles:
            known = ", ".join(sorted(profiles)) or "none"
            raise ConfigError(f"no profile {profile!r} in {path} (profiles there: {known})")
        return _from_profile(path, profiles[profile], host, demo)
    present = [v for v in _REQUIRED_ENV if env.get(v)]
    if present:
        missing = [v for v in _REQUIRED_ENV if not env.get(v)]
        if missing:
            raise ConfigError(
                f"incomplete credentials in the environment: {', '.join(present)} set but"
                f" {', '.join(missing)} missing"
            )
        try:
            creds = Credentials(
                api_key=env[ENV_API_KEY],
                secret_key=env[ENV_SECRET_KEY],
                passphrase=env[ENV_PASSPHRASE],
                uid=env.get(ENV_UID) or None,
            )
        except ValueError as exc:  # the message names the field, never its value
            raise ConfigError(f"credentials in the environment: {exc}") from None
        return Profile(creds, resolve_host(host), bool(demo), "environment variables")
    if path.exists():
        profiles = _read(path)
        if len(profiles) == 1 or "default" in profiles:
            name = "default" if "default" in profiles else next(iter(profiles))
            return _from_profile(path, profiles[name], host, demo)
        if profiles:
            raise ConfigError(
                f"{path} has several profiles ({', '.join(sorted(profiles))}) and none is"
                " named 'default': choose one with --profile NAME"
            )
    raise ConfigError(
        "no credentials: set the environment variables "
        f"{', '.join(_REQUIRED_ENV)} (and optionally {ENV_UID}), or write a profiles file"
        f" at {path} (or pass --config PATH) and choose a profile with --profile NAME"
    )
