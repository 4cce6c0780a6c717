"""Defaults and named hosts, in one place."""

from __future__ import annotations

#: OKX's historic default REST host.
HOST_WWW = "https://www.okx.com"
#: The host named in OKX's newer documentation.
HOST_OPENAPI = "https://openapi.okx.com"
#: Host for accounts registered in the US or Australia.
HOST_US = "https://us.okx.com"
#: Host for accounts registered in the European Economic Area.
HOST_EEA = "https://eea.okx.com"

DEFAULT_BASE_URL = HOST_WWW
DEFAULT_TIMEOUT = 10.0
DEFAULT_MAX_RETRIES = 3
DEFAULT_BACKOFF = 0.25
MAX_BACKOFF = 8.0
#: Connections kept per client session (aiohttp's pool size).
DEFAULT_POOL_SIZE = 100
USER_AGENT = "okx-onchain-earn"
#: How long an unknown trade outcome is looked for before giving up, in seconds.
DEFAULT_RECONCILE_TIMEOUT = 10.0
#: Pause between two looks at the orders while reconciling, in seconds.
DEFAULT_RECONCILE_INTERVAL = 0.5
