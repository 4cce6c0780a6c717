"""Where the CLI's credentials come from: environment variables or a profiles file.

Nothing here imports click or rich, so the resolution rules are plain functions that
tests call directly. A profiles file is TOML::

    [profiles.main]
    api_key = "…"
    secret_key = "…"
    passphrase = "…"
    uid = "4480100000000001"      # optional: saves one lookup
    name = "treasury"             # optional label (the profile name by default)
    host = "eea"                  # optional: www | openapi | us | eea | an http(s) URL
    demo = false                  # optional: demo-trading key

One profile per sub-account (each sub-account has its own keys and user id).
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from .._constants import HOST_EEA, HOST_OPENAPI, HOST_US, HOST_WWW
from ..auth import Credentials

__all__ = [
    "ENV_API_KEY",
    "ENV_PASSPHRASE",
    "ENV_SECRET_KEY",
    "ENV_UID",
    "HOSTS",
    "ConfigError",
    "Profile",
    "default_config_path",
    "load_profiles",
    "resolve_host",
    "resolve_profile",
    "write_profiles",
]

ENV_API_KEY = "OKX_API_KEY"
ENV_SECRET_KEY = "OKX_SECRET_KEY"
ENV_PASSPHRASE = "OKX_PASSPHRASE"
ENV_UID = "OKX_UID"
_REQUIRED_ENV = (ENV_API_KEY, ENV_SECRET_KEY, ENV_PASSPHRASE)

#: ``--host`` short names.
HOSTS: dict[str, str] = {
    "www": HOST_WWW,
    "openapi": HOST_OPENAPI,
    "us": HOST_US,
    "eea": HOST_EEA,
}

#: The keys of a profile (``Fleet.from_profiles`` reads the same format).
_PROFILE_KEYS = frozenset(("api_key", "secret_key", "passphrase", "uid", "name", "host", "demo"))


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

    Raises:
        ConfigError: Neither a known name nor an http(s) URL.
    """
    if value is None:
        return HOST_WWW
    named = HOSTS.get(value.strip().lower())
    if named is not None:
        return named
    if value.startswith(("https://", "http://")) and len(value.split("://", 1)[1]) > 0:
        return value.rstrip("/")
    raise ConfigError(f"unknown host {value!r}: use one of {', '.join(HOSTS)} or an http(s):// URL")


def load_profiles(path: Path) -> dict[str, dict[str, object]]:
    """Reads the ``[profiles.NAME]`` tables of a profiles file.

    Raises:
        ConfigError: The file cannot be read, is not TOML, or a profile is malformed.
    """
    try:
        with path.open("rb") as f:
            data = tomllib.load(f)
    except FileNotFoundError:
        raise ConfigError(f"profiles file not found: {path}")
    except OSError as exc:
        raise ConfigError(f"cannot read profiles file {path}: {exc.strerror or exc}")
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"profiles file {path} is not valid TOML: {exc}")
    profiles = data.get("profiles", {})
    if not isinstance(profiles, dict):
        raise ConfigError(f"{path}: 'profiles' must be a table of [profiles.NAME] tables")
    out: dict[str, dict[str, object]] = {}
    for name, table in profiles.items():
        if not isinstance(table, dict):
            raise ConfigError(f"{path}: [profiles.{name}] must be a table")
        unknown = sorted(set(table) - _PROFILE_KEYS)
        if unknown:
            raise ConfigError(
                f"{path}: [profiles.{name}] has unknown keys {', '.join(unknown)}"
                f" (allowed: {', '.join(sorted(_PROFILE_KEYS))})"
            )
        out[name] = table
    return out


def _text(path: Path, name: str, table: Mapping[str, object], key: str) -> str | None:
    value = table.get(key)
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool) and key == "uid":
        return str(value)
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{path}: [profiles.{name}] {key} must be a non-empty string")
    return value


def _from_profile(
    path: Path, name: str, table: Mapping[str, object], host: str | None, demo: bool | None
) -> Profile:
    values = {k: _text(path, name, table, k) for k in ("api_key", "secret_key", "passphrase")}
    missing = [k for k, v in values.items() if v is None]
    if missing:
        raise ConfigError(f"{path}: [profiles.{name}] is missing {', '.join(missing)}")
    file_demo = table.get("demo", False)
    if not isinstance(file_demo, bool):
        raise ConfigError(f"{path}: [profiles.{name}] demo must be true or false")
    creds = Credentials(
        api_key=values["api_key"] or "",
        secret_key=values["secret_key"] or "",
        passphrase=values["passphrase"] or "",
        uid=_text(path, name, table, "uid"),
        name=_text(path, name, table, "name") or name,
    )
    return Profile(
        credentials=creds,
        host=resolve_host(host if host is not None else _text(path, name, table, "host")),
        demo=file_demo if demo is None else demo,
        source=f"profile {name!r} in {path}",
    )


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
    env = os.environ if environ is None else environ
    path = config if config is not None else default_config_path()
    if profile is not None:
        profiles = load_profiles(path)
        if profile not in profiles:
            known = ", ".join(sorted(profiles)) or "none"
            raise ConfigError(f"no profile {profile!r} in {path} (profiles there: {known})")
        return _from_profile(path, profile, profiles[profile], host, demo)
    present = [v for v in _REQUIRED_ENV if env.get(v)]
    if present:
        missing = [v for v in _REQUIRED_ENV if not env.get(v)]
        if missing:
            raise ConfigError(
                f"incomplete credentials in the environment: {', '.join(present)} set but"
                f" {', '.join(missing)} missing"
            )
        creds = Credentials(
            api_key=env[ENV_API_KEY],
            secret_key=env[ENV_SECRET_KEY],
            passphrase=env[ENV_PASSPHRASE],
            uid=env.get(ENV_UID) or None,
        )
        return Profile(creds, resolve_host(host), bool(demo), "environment variables")
    if path.exists():
        profiles = load_profiles(path)
        if len(profiles) == 1 or "default" in profiles:
            name = "default" if "default" in profiles else next(iter(profiles))
            return _from_profile(path, name, profiles[name], host, demo)
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


def write_profiles(
    path: Path, credentials: Iterable[Credentials], *, host: str, demo: bool = False
) -> list[str]:
    """Writes a profiles file (mode 0600) with one profile per key.

    Profiles are named after ``Credentials.name`` (else ``acct<N>``).

    Args:
        path: File to write (its directory is created).
        credentials: The keys to write.
        host: Host every profile uses (a name or URL).
        demo: Demo flag of every profile.

    Returns:
        The profile names, in file order.
    """
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
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write("\n".join(lines))
    return names
