"""Shared fixtures: credentials with a known secret, and response bodies from the docs."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
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


aioresponses.core.ClientResponse = _CompatResponse  # type: ignore[attr-defined]


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


# --- a throwaway redis-server for the shared-limiter tests -------------------------


def _missing(what: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{what} is required in CI")
    pytest.skip(f"{what} not installed")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """URL of a throwaway redis-server that lives for the test session."""
    binary = shutil.which("redis-server")
    if binary is None:
        _missing("redis-server")
    try:
        import redis  # noqa: F401
    except ImportError:
        _missing("the redis package")
    assert binary is not None
    port = free_port()
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5) as conn:
                    conn.sendall(b"PING\r\n")
                    if conn.recv(16).startswith(b"+PONG"):
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"redis-server did not start on port {port}")
            time.sleep(0.02)  # server start-up, not limiter timing
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.fixture
def prefix() -> str:
    """A key prefix of this test's own, so tests never share keys."""
    return f"test:{uuid.uuid4().hex[:10]}:"
