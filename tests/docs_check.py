"""Opens every page of the built docs site in headless Chromium and checks what a reader sees.

    mkdocs build --strict --site-dir SITE && python -m tests.docs_check SITE [--shots DIR]

Each page is served from 127.0.0.1 and loaded in a 1280×900 window. A page fails when:

- it logs a console error, throws, or a request of it fails (4xx/5xx, network error);
- it asks any host other than this machine for anything (the site must be self-contained);
- a link to a page or file of the site, or to an ``#anchor`` in one, leads nowhere;
- an image does not load;
- a table, or a code block, is wider than the content column (the reader would have to
  scroll sideways to read it, and usually does not see that there is more);
- an API reference entry of a msgspec Struct or a dataclass does not list every field
  in its "Attributes" table with a type and a description, names a private type
  (``_AmountText``) or shows a private base (``_Model``);
- a signature shows a default as a constant's name (``C.DEFAULT_TIMEOUT``), not its value.

And the site fails when a public model of ``okx_onchain_earn.models`` has no entry at all.

Chromium is Debian's ``chromium`` package (``.ci/run`` installs it); it is driven through
the DevTools protocol over aiohttp's websocket client, a dependency of the library
already, because browser-driver packages download browsers of their own. Requests to
any host but 127.0.0.1 are refused inside the browser itself.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import dataclasses
import importlib
import itertools
import json
import os
import re
import shutil
import socket
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import aiohttp
from aiohttp import web

__all__ = ["PageReport", "check_site", "find_chromium", "main"]

WIDTH, HEIGHT = 1280, 900
_LOAD_TIMEOUT = 30.0
_START_TIMEOUT = 30.0
_QUIET = 0.3
_PRIVATE_NAME = re.compile(r"(?<![\w.])_[A-Za-z]\w*")
#: A default rendered as a name (``= C.DEFAULT_TIMEOUT``, ``= RateRule.USER_ID``).
_NAMED_DEFAULT = re.compile(r"=\s*((?:[A-Za-z_]\w*\.)*)([A-Z][A-Z0-9]*_[A-Z0-9_]*)\b")


def constant_default(signature: str) -> str | None:
    """The first default shown as a constant's name, not its value; enum members pass.

    ``RateRule.USER_ID`` names an enum member (its class is CamelCase) and is what the
    reader needs; ``C.DEFAULT_TIMEOUT`` or ``DEFAULT_SLOW_DELAY`` hides a number.
    """
    for m in _NAMED_DEFAULT.finditer(signature):
        owner = m.group(1).rstrip(".").rpartition(".")[2]
        if not (owner[:1].isupper() and any(c.islower() for c in owner)):
            return m.group(0)
    return None


# Runs in the page once it has loaded; returns plain JSON.
_EXTRACT_JS = r"""
(() => {
  const text = (el) => (el ? el.textContent : "").replace(/\s+/g, " ").trim();
  const article = document.querySelector("article.md-content__inner") || document.body;
  const style = getComputedStyle(article);
  const colLeft = article.getBoundingClientRect().left + parseFloat(style.paddingLeft);
  const colWidth = article.clientWidth - parseFloat(style.paddingLeft)
      - parseFloat(style.paddingRight);
  const colRight = colLeft + colWidth;
  const over = (el) => Math.max(
      el.scrollWidth - el.clientWidth, el.getBoundingClientRect().right - colRight);
  const tables = [...article.querySelectorAll("table")].map((t) => {
    const wrap = t.closest(".md-typeset__scrollwrap");
    return {
      head: text(t.querySelector("tr")).slice(0, 80),
      over: Math.max(over(t), wrap ? wrap.scrollWidth - wrap.clientWidth : 0),
    };
  });
  const code = [...article.querySelectorAll("pre > code")].map((c) => ({
    first: (c.textContent.split("\n").find((l) => l.trim()) || "").trim().slice(0, 80),
    over: over(c),
  }));
  const classes = [...article.querySelectorAll(".doc-object.doc-class")].map((div) => {
    const heading = div.querySelector(":scope > .doc-heading");
    const contents = div.querySelector(":scope > .doc-contents");
    const own = (el) => el.closest(".doc-object") === div;
    let rows = null;
    if (contents) {
      const title = [...contents.querySelectorAll(".doc-section-title")]
          .find((t) => own(t) && text(t) === "Attributes:");
      if (title) {
        let table = title.closest("p").nextElementSibling;
        while (table && table.tagName !== "TABLE") {
          table = table.querySelector("table") || table.nextElementSibling;
        }
        if (table) {
          rows = [...table.querySelectorAll("tbody > tr")].map(
              (tr) => [...tr.children].map(text));
        }
      }
    }
    const bases = contents && [...contents.querySelectorAll(".doc-class-bases")]
        .find(own);
    return {id: heading ? heading.id : "", rows: rows, bases: bases ? text(bases) : ""};
  });
  const signatures = [...article.querySelectorAll(".doc-signature")].map(text);
  return {
    title: document.title,
    colWidth: colWidth,
    ids: [...document.querySelectorAll("[id]")].map((e) => e.id)
        .concat([...document.querySelectorAll("a[name]")].map((e) => e.name)),
    links: [...document.querySelectorAll("a[href]")].map(
        (a) => ({href: a.href, text: text(a).slice(0, 60)})),
    images: [...document.images].map(
        (i) => ({src: i.currentSrc || i.src, ok: i.complete && i.naturalWidth > 0})),
    tables: tables,
    code: code,
    classes: classes,
    signatures: signatures,
  };
})()
"""


@dataclass(slots=True)
class PageReport:
    """What one page showed, and what is wrong with it."""

    path: str
    problems: list[str] = field(default_factory=list)
    ids: set[str] = field(default_factory=set)
    links: list[tuple[str, str]] = field(default_factory=list)
    documented: set[str] = field(default_factory=set)


# --- serving the site --------------------------------------------------------------


@contextlib.asynccontextmanager
async def serve(root: Path) -> AsyncIterator[str]:
    """Serves ``root`` (resolved) on 127.0.0.1, ``dir/`` as ``dir/index.html``; yields its URL."""

    async def handle(request: web.Request) -> web.StreamResponse:
        rel = unquote(request.path).lstrip("/")
        target = (root / rel).resolve()
        if target.is_dir():
            target = target / "index.html"
        if not target.is_relative_to(root) or not target.is_file():
            raise web.HTTPNotFound()
        return web.FileResponse(target)

    app = web.Application()
    app.router.add_get("/{tail:.*}", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    await web.SockSite(runner, sock).start()
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}/"
    finally:
        await runner.cleanup()


# --- Chromium over the DevTools protocol -------------------------------------------


def find_chromium() -> str | None:
    """The system Chromium (Debian's ``chromium``), or ``$CHROMIUM`` when set."""
    for name in (os.environ.get("CHROMIUM"), "chromium", "chromium-browser", "google-chrome"):
        if name and (found := shutil.which(name)):
            return found
    return None


class Browser:
    """One headless Chromium and one DevTools connection to it (flat sessions)."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self._ws = ws
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._events: dict[str, asyncio.Queue[dict[str, Any]]] = {}
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for msg in self._ws:
            if msg.type is not aiohttp.WSMsgType.TEXT:
                continue
            data = json.loads(msg.data)
            if "id" in data:
                fut = self._pending.pop(data["id"], None)
                if fut is not None and not fut.done():
                    fut.set_result(data)
            elif (queue := self._events.get(data.get("sessionId", ""))) is not None:
                queue.put_nowait(data)
        for fut in self._pending.values():
            if not fut.done():
                fut.set_exception(ConnectionError("Chromium closed the DevTools connection"))

    async def send(
        self, method: str, params: dict[str, Any] | None = None, session: str = ""
    ) -> dict[str, Any]:
        """Calls ``method`` and returns its result; a protocol error raises RuntimeError."""
        msg_id = next(self._ids)
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[msg_id] = fut
        msg: dict[str, Any] = {"id": msg_id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        await self._ws.send_str(json.dumps(msg))
        answer = await asyncio.wait_for(fut, _LOAD_TIMEOUT)
        if "error" in answer:
            raise RuntimeError(f"{method}: {answer['error']}")
        result: dict[str, Any] = answer.get("result", {})
        return result

    async def new_tab(self) -> tuple[str, asyncio.Queue[dict[str, Any]]]:
        """A new tab at the check's window size; its session id and event queue."""
        target = await self.send("Target.createTarget", {"url": "about:blank"})
        attached = await self.send(
            "Target.attachToTarget", {"targetId": target["targetId"], "flatten": True}
        )
        session: str = attached["sessionId"]
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._events[session] = queue
        for method in ("Page.enable", "Runtime.enable", "Log.enable", "Network.enable"):
            await self.send(method, session=session)
        await self.send("Page.setLifecycleEventsEnabled", {"enabled": True}, session)
        await self.send(
            "Emulation.setDeviceMetricsOverride",
            {"width": WIDTH, "height": HEIGHT, "deviceScaleFactor": 1, "mobile": False},
            session,
        )
        return session, queue

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self.send("Browser.close")
        await self._ws.close()
        self._reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._reader


@contextlib.asynccontextmanager
async def chromium(binary: str) -> AsyncIterator[Browser]:
    """Starts headless ``binary`` with DevTools on a loopback port; yields a Browser."""
    with tempfile.TemporaryDirectory(prefix="docs-check-", ignore_cleanup_errors=True) as profile:
        args = [
            binary,
            "--headless",
            "--disable-gpu",
            "--no-first-run",
            "--no-default-browser-check",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-default-apps",
            "--disable-extensions",
            "--disable-sync",
            "--metrics-recording-only",
            "--no-pings",
            "--hide-scrollbars",
            "--mute-audio",
            # Nothing but this machine: every other host name fails to resolve.
            "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
            "--remote-debugging-address=127.0.0.1",
            "--remote-debugging-port=0",
            f"--user-data-dir={profile}",
            f"--window-size={WIDTH},{HEIGHT}",
            "about:blank",
        ]
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            args.insert(1, "--no-sandbox")  # Chromium refuses to run as root otherwise
        proc = await asyncio.create_subprocess_exec(
            *args,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        try:
            port_file = Path(profile) / "DevToolsActivePort"
            deadline = time.monotonic() + _START_TIMEOUT
            while not port_file.is_file() or len(port_file.read_text().split()) < 2:
                if proc.returncode is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"{binary} did not start (exit {proc.returncode})")
                await asyncio.sleep(0.05)
            port, path = port_file.read_text().split()[:2]
            async with aiohttp.ClientSession() as http:
                ws = await http.ws_connect(f"ws://127.0.0.1:{port}{path}", max_msg_size=0)
                browser = Browser(ws)
                try:
                    yield browser
                finally:
                    await browser.close()
        finally:
            if proc.returncode is None:
                proc.terminate()
                try:
                    await asyncio.wait_for(proc.wait(), 10)
                except TimeoutError:
                    proc.kill()
                    await proc.wait()


# --- one page ----------------------------------------------------------------------


def _event_problem(event: dict[str, Any], origin: str, requests: dict[str, str]) -> str | None:
    method, params = event.get("method"), event.get("params", {})
    if method == "Runtime.exceptionThrown":
        details = params.get("exceptionDetails", {})
        exc = details.get("exception", {})
        return f"script error: {exc.get('description') or details.get('text')}"
    if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
        args = " ".join(str(a.get("value", a.get("description", ""))) for a in params["args"])
        return f"console.{params['type']}: {args}"
    if method == "Log.entryAdded" and params["entry"].get("level") == "error":
        entry = params["entry"]
        return f"console error: {entry.get('text')} {entry.get('url', '')}".strip()
    if method == "Network.requestWillBeSent":
        url = params["request"]["url"]
        requests[params["requestId"]] = url
        if not url.startswith((origin, "data:", "blob:", "about:")):
            return f"asks another host: {url}"
    if method == "Network.responseReceived":
        status = params["response"]["status"]
        if status >= 400:
            return f"HTTP {status} for {params['response']['url']}"
    if method == "Network.loadingFailed" and not params.get("canceled"):
        url = requests.get(params["requestId"], "?")
        return f"request failed ({params.get('errorText')}): {url}"
    return None


async def _load(
    browser: Browser, session: str, queue: asyncio.Queue[dict[str, Any]], url: str, origin: str
) -> list[str]:
    """Navigates to ``url`` and waits for its load event and then a quiet network.

    Quiet: no network event for ``_QUIET`` s (scripts such as the search worker fetch
    after the load event). Returns the problems seen meanwhile.
    """
    while not queue.empty():
        queue.get_nowait()
    nav = await browser.send("Page.navigate", {"url": url}, session)
    if nav.get("errorText"):
        return [f"does not load: {nav['errorText']}"]
    loader = nav.get("loaderId")
    problems: list[str] = []
    requests: dict[str, str] = {}
    loaded = False
    deadline = time.monotonic() + _LOAD_TIMEOUT
    while True:
        left = deadline - time.monotonic()
        try:
            event = await asyncio.wait_for(queue.get(), min(left, _QUIET) if loaded else left)
        except TimeoutError:
            if not loaded:
                problems.append(f"still loading after {_LOAD_TIMEOUT:g} s")
            break
        if (problem := _event_problem(event, origin, requests)) is not None:
            problems.append(problem)
        params = event.get("params", {})
        if event.get("method") == "Page.lifecycleEvent" and params.get("loaderId") == loader:
            loaded = loaded or params.get("name") == "load"
        if time.monotonic() > deadline:
            break
    return problems


def _import(path: str) -> object | None:
    """The object at dotted ``path`` (``pkg.module.Class``), or None."""
    parts = path.split(".")
    for cut in range(len(parts) - 1, 0, -1):
        try:
            obj: object = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        try:
            for name in parts[cut:]:
                obj = getattr(obj, name)
        except AttributeError:
            return None
        return obj
    return None


def model_fields(obj: object) -> list[str] | None:
    """Public field names of a msgspec Struct or a dataclass; None for anything else."""
    if not isinstance(obj, type):
        return None
    try:
        import msgspec
    except ImportError:  # pragma: no cover - a dependency of the library
        msgspec = None  # type: ignore[assignment]
    if msgspec is not None and issubclass(obj, msgspec.Struct):
        names = [f.name for f in msgspec.structs.fields(obj)]
    elif dataclasses.is_dataclass(obj):
        names = [f.name for f in dataclasses.fields(obj)]
    else:
        return None
    return [n for n in names if not n.startswith("_")]


def class_problems(entry: dict[str, Any]) -> list[str]:
    """What the reference entry of one class (as extracted from the page) lacks."""
    name = entry["id"]
    problems: list[str] = []
    if _PRIVATE_NAME.search(entry.get("bases", "").removeprefix("Bases:")):
        problems.append(f"{name}: shows a private base ({entry['bases']})")
    fields = model_fields(_import(name))
    if fields is None:
        return problems
    rows = {row[0]: row for row in entry.get("rows") or [] if row}
    missing = [f for f in fields if f not in rows]
    if entry.get("rows") is None and fields:
        problems.append(f"{name}: no Attributes table (fields: {', '.join(fields)})")
    elif missing:
        problems.append(f"{name}: fields missing from its Attributes: {', '.join(missing)}")
    for f in fields:
        row = rows.get(f)
        if row is None:
            continue
        if len(row) < 3 or not row[1]:
            problems.append(f"{name}.{f}: no type shown")
        elif _PRIVATE_NAME.search(row[1]):
            problems.append(f"{name}.{f}: type names a private alias ({row[1]})")
        if len(row) < 3 or not row[-1]:
            problems.append(f"{name}.{f}: no description")
    return problems


async def check_page(
    browser: Browser,
    session: str,
    queue: asyncio.Queue[dict[str, Any]],
    base: str,
    path: str,
    shots: Path | None = None,
) -> PageReport:
    """Loads ``base + path`` and checks everything that can be checked on one page."""
    report = PageReport(path)
    report.problems += await _load(browser, session, queue, base + path, base)
    found = await browser.send(
        "Runtime.evaluate", {"expression": _EXTRACT_JS, "returnByValue": True}, session
    )
    if "exceptionDetails" in found:
        report.problems.append(f"could not be read: {found['exceptionDetails'].get('text')}")
        return report
    page: dict[str, Any] = found["result"]["value"]
    report.ids = set(page["ids"])
    report.links = [(link["href"], link["text"]) for link in page["links"]]
    for image in page["images"]:
        if not image["ok"]:
            report.problems.append(f"image does not load: {image['src']}")
    column = page["colWidth"]
    for table in page["tables"]:
        if table["over"] > 1:
            report.problems.append(
                f"table wider than the {column:.0f} px column by {table['over']:.0f} px:"
                f" {table['head']!r}"
            )
    for code in page["code"]:
        if code["over"] > 1:
            report.problems.append(
                f"code wider than the {column:.0f} px column by {code['over']:.0f} px:"
                f" {code['first']!r}"
            )
    for entry in page["classes"]:
        if entry["id"]:
            report.documented.add(entry["id"])
            report.problems += class_problems(entry)
    for sig in page["signatures"]:
        if shown := constant_default(sig):
            report.problems.append(
                f"a signature shows a constant's name, not its value ({shown}): {sig[:60]!r}"
            )
    if shots is not None:
        await _screenshot(browser, session, shots / (path.strip("/").replace("/", "_") or "index"))
    return report


async def _screenshot(browser: Browser, session: str, stem: Path) -> None:
    shot = await browser.send(
        "Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True}, session
    )
    stem.with_suffix(".png").write_bytes(base64.b64decode(shot["data"]))


# --- the whole site ----------------------------------------------------------------


def pages_of(site: Path) -> list[str]:
    """URL paths of every HTML page of a built site (``dir/`` for ``dir/index.html``)."""
    out = []
    for html in sorted(site.rglob("*.html")):
        rel = html.relative_to(site).as_posix()
        out.append(rel.removesuffix("index.html"))
    return out


def link_problems(reports: Iterable[PageReport], site: Path, base: str) -> list[str]:
    """Links to pages or files of the site, and anchors in them, that lead nowhere."""
    ids = {r.path: r.ids for r in reports}
    problems: list[str] = []
    for report in reports:
        for href, text in report.links:
            if not href.startswith(base):
                continue  # another host: not fetched (no network here), and not ours
            parts = urlsplit(href)
            path = unquote(parts.path).lstrip("/")
            target = site / path
            if target.is_dir() or path == "" or path.endswith("/"):
                target = target / "index.html"
                path = path.removesuffix("index.html")
            elif path.endswith("index.html"):
                path = path.removesuffix("index.html")
            where = f"/{report.path}: link {text!r} → {href.removeprefix(base)}"
            if not target.is_file():
                problems.append(f"{where}: no such page or file")
            elif parts.fragment and unquote(parts.fragment) not in ids.get(path, set()):
                problems.append(f"{where}: no such anchor")
    return problems


def public_models() -> list[str]:
    """Dotted paths of the public response and request models."""
    models = importlib.import_module("okx_onchain_earn.models")
    return [
        f"okx_onchain_earn.models.{name}"
        for name in models.__all__
        if model_fields(getattr(models, name)) is not None
    ]


async def check_site(
    site: Path,
    *,
    binary: str,
    shots: Path | None = None,
    required: Iterable[str] | None = None,
    log: Any = None,
) -> list[str]:
    """Every problem of the built site at ``site``, as ``"page: problem"`` lines."""
    required = public_models() if required is None else list(required)
    site = await asyncio.to_thread(site.resolve)
    reports: list[PageReport] = []
    async with serve(site) as base, chromium(binary) as browser:
        session, queue = await browser.new_tab()
        for path in pages_of(site):
            report = await check_page(browser, session, queue, base, path, shots)
            if log is not None:
                log(f"{'ok ' if not report.problems else 'BAD'} /{path}")
            reports.append(report)
        problems = [f"/{r.path}: {p}" for r in reports for p in r.problems]
        problems += link_problems(reports, site, base)
    documented = set().union(*(r.documented for r in reports)) if reports else set()
    problems += [
        f"{name}: no reference entry on any page" for name in required if name not in documented
    ]
    return problems


def main(argv: list[str] | None = None) -> int:
    """Command line: exit 0 when the site has no problem, 1 with a list otherwise."""
    parser = argparse.ArgumentParser(prog="python -m tests.docs_check", description=__doc__)
    parser.add_argument("site", type=Path, help="the directory `mkdocs build` wrote")
    parser.add_argument("--shots", type=Path, help="write a full-page PNG of each page here")
    parser.add_argument("--chromium", help="browser binary (default: the system chromium)")
    args = parser.parse_args(argv)
    binary = args.chromium or find_chromium()
    if binary is None:
        print("docs check: no chromium found (apt-get install chromium)", file=sys.stderr)
        return 2
    if not (args.site / "index.html").is_file():
        print(f"docs check: {args.site} has no index.html", file=sys.stderr)
        return 2
    if args.shots:
        args.shots.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    problems = asyncio.run(
        check_site(args.site, binary=binary, shots=args.shots, log=lambda s: print(s, flush=True))
    )
    pages = len(pages_of(args.site))
    for problem in problems:
        print(f"  {problem}")
    print(
        f"docs check: {pages} pages, {len(problems)} problem(s), {time.monotonic() - started:.1f} s"
    )
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
