"""Shared fixtures: credentials with a known secret, and response bodies from the docs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aioresponses.core
import pytest
from aiohttp import ClientResponse

from okx_onchain_earn import Credentials

DATA = Path(__file__).parent / "data"
SECRET = "22582BD0CFF14C41EDBF1AB98506286D"


class _NoWriter:
    output_size = 0


class _CompatResponse(ClientResponse):
    """aiohttp 3.14 made ``stream_writer`` a required argument that aioresponses 0.7.x
    does not pass; responses it builds were already "sent", so a zero-size stand-in
    is faithful. Test-only: the SDK itself never builds responses."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("stream_writer", _NoWriter())
        super().__init__(*args, **kwargs)


aioresponses.core.ClientResponse = _CompatResponse  # type: ignore[misc]


def doc_example(name: str) -> dict[str, Any]:
    """A response example from the endpoint docs, stored under tests/data."""
    loaded: dict[str, Any] = json.loads((DATA / f"{name}.json").read_text())
    return loaded


@pytest.fixture
def creds() -> Credentials:
    return Credentials(
        api_key="test-api-key-0123456789",
        secret_key=SECRET,
        passphrase="Correct-Horse-9",
        uid="44801",
    )
