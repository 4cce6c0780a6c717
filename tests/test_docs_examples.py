"""The code in the documentation is correct against the actual API.

Every ``python`` block under ``docs/`` must compile and import only names that exist.
Blocks that can run without credentials run against the embedded simulator: whole
programs as they are, fragments (top-level ``await``) with the names they use supplied.
"""

from __future__ import annotations

import ast
import asyncio
import importlib
import re
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from okx_onchain_earn import InvestData, OnchainEarnClient
from okx_onchain_earn.simulator import run_simulator

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
_BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)
_FLAGS = ast.PyCF_ALLOW_TOP_LEVEL_AWAIT


def _pages() -> list[Path]:
    return sorted(DOCS.rglob("*.md"))


def _blocks(page: Path) -> list[str]:
    return _BLOCK.findall(page.read_text(encoding="utf-8"))


def _block(page: str, needle: str) -> str:
    """The one python block of ``docs/<page>`` that contains ``needle``."""
    found = [b for b in _blocks(DOCS / page) if needle in b]
    assert len(found) == 1, f"{page}: {len(found)} python blocks contain {needle!r}"
    return found[0]


def _all_blocks() -> Iterator[tuple[str, int, str]]:
    for page in _pages():
        for i, block in enumerate(_blocks(page)):
            yield str(page.relative_to(DOCS)), i, block


async def _run_fragment(source: str, namespace: dict[str, Any]) -> dict[str, Any]:
    """Runs a block that may use top-level ``await``, in ``namespace``."""
    code = compile(source, "<docs>", "exec", flags=_FLAGS)
    result = eval(code, namespace)
    if asyncio.iscoroutine(result):
        await result
    return namespace


def test_docs_have_examples() -> None:
    assert len(list(_all_blocks())) > 20


@pytest.mark.parametrize(("page", "index", "source"), list(_all_blocks()))
def test_block_compiles_and_imports_exist(page: str, index: int, source: str) -> None:
    tree = compile(source, f"{page}[{index}]", "exec", flags=_FLAGS | ast.PyCF_ONLY_AST)
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("okx_onchain_earn"):
            module = importlib.import_module(node.module or "")
            for alias in node.names:
                assert hasattr(module, alias.name), f"{page}: {node.module}.{alias.name}"
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("okx_onchain_earn"):
                    importlib.import_module(alias.name)


def test_quick_start_is_the_readme_one() -> None:
    def commands(text: str) -> list[str]:
        return [line for line in text.splitlines() if line.startswith("python3 -m venv .venv && ")]

    readme = commands((ROOT / "README.md").read_text(encoding="utf-8"))
    index = commands((DOCS / "index.md").read_text(encoding="utf-8"))
    assert len(readme) == 2
    assert index == readme


def test_getting_started_first_client(capsys: pytest.CaptureFixture[str]) -> None:
    exec(_block("getting-started.md", "Simulator(accounts=1)"), {"__name__": "docs"})
    assert "4005" in capsys.readouterr().out


def test_simulator_guide_program() -> None:
    exec(_block("guides/simulator.md", "async def main"), {"__name__": "docs"})


@pytest.mark.filterwarnings("ignore::pytest.PytestUnknownMarkWarning")
async def test_simulator_guide_fixture_example() -> None:
    ns: dict[str, Any] = {"__name__": "docs"}
    exec(_block("guides/simulator.md", "def test_history_is_complete"), ns)
    async with run_simulator(accounts=5, history_orders=120) as sim:
        await ns["test_history_is_complete"](sim)


async def test_simulator_guide_faults() -> None:
    async with run_simulator(accounts=1, history_orders=20) as sim:
        async with OnchainEarnClient(
            sim.credentials[0], base_url=sim.base_url, timeout=1.0, reconcile_timeout=3.0
        ) as client:
            ns = {"sim": sim, "client": client, "InvestData": InvestData, "Decimal": Decimal}
            ns["account"] = sim.state.account(sim.credentials[0].uid or "")
            fragment = _block("guides/simulator.md", 'queue("purchase", "timeout_after")\nack')
            await _run_fragment(fragment, ns)
            # The catalogue of fault calls only arms faults; it must not raise.
            await _run_fragment(_block("guides/simulator.md", "set_latency"), ns)
            assert sim.faults.pending() == 0


async def test_trades_guide_journal_and_unknown_outcome(tmp_path: Path) -> None:
    ns: dict[str, Any] = {"__name__": "docs"}
    exec(_block("guides/trades.md", "class SqliteJournal"), ns)
    journal = ns["SqliteJournal"](str(tmp_path / "trades.db"))
    saved: list[str] = []

    class Pending:
        async def save(self, tag: str, checked: tuple[str, ...]) -> None:
            saved.append(tag)

        async def resolve(self, tag: str, ord_id: str) -> None:
            raise AssertionError("a dropped purchase was found")

    async with run_simulator(accounts=1, history_orders=10) as sim:
        async with OnchainEarnClient(
            sim.credentials[0],
            base_url=sim.base_url,
            journal=journal,
            reconcile_timeout=1.0,
            reconcile_interval=0.2,
        ) as client:
            data = [InvestData(ccy="USDT", amt=Decimal("100"))]
            ack = await client.purchase(product_id="4005", invest_data=data, tag="okfirst")
            # The request dies before OKX acts: unknown, reconciled, still not found.
            sim.faults.queue("purchase", "drop_before")
            ns.update(client=client, data=data, tag="lostone", pending=Pending())
            await _run_fragment(_block("guides/trades.md", "except OrderOutcomeUnknownError"), ns)
            assert saved == ["lostone"]
            assert await client.find_purchase("okfirst") is not None

            unsettled = journal.unsettled()
            assert [row[2] for row in unsettled] == ["lostone"]
            ns.update(creds=sim.credentials[0], journal=journal)
            # The start-up check: runs with its own client and closes the journal.
            source = _block("guides/trades.md", "journal.unsettled()").replace(
                'journal = SqliteJournal("trades.db")\n', ""
            )
            ns["OnchainEarnClient"] = lambda creds, **kw: OnchainEarnClient(
                creds, base_url=sim.base_url, **kw
            )
            await _run_fragment(source, ns)
    assert ack.tag == "okfirst"


async def test_many_sub_accounts_map() -> None:
    from okx_onchain_earn import ClientConfig
    from okx_onchain_earn.fleet import Fleet

    async with run_simulator(accounts=3, history_orders=20) as sim:
        async with Fleet(sim.credentials, ClientConfig(base_url=sim.base_url)) as fleet:
            ns: dict[str, Any] = {"fleet": fleet, "__name__": "docs"}
            await _run_fragment(_block("guides/many-sub-accounts.md", "invest_idle_usdt"), ns)
            assert [r.account for r in ns["results"]] == list(fleet.names)
            assert all(r.ok for r in ns["results"])


async def test_paging_guide_fragments() -> None:
    stored: list[Any] = []
    async with run_simulator(accounts=1, history_orders=230) as sim:
        async with OnchainEarnClient(sim.credentials[0], base_url=sim.base_url) as client:
            ns: dict[str, Any] = {
                "client": client,
                "saved_cursor": None,
                "store": stored.extend,
                "save_cursor": lambda cursor: None,
            }
            await _run_fragment(_block("guides/paging-history.md", "save_cursor(page.cursor)"), ns)
            assert len(stored) == 230
            assert len({o.ord_id for o in stored}) == 230

            newer: list[Any] = []
            ns.update(last_seen=stored[50].ord_id, record=newer.append)
            await _run_fragment(_block("guides/paging-history.md", "before=last_seen"), ns)
            assert [o.ord_id for o in newer] == [o.ord_id for o in reversed(stored[:50])]
            assert ns["last_seen"] == stored[0].ord_id


async def test_simulator_guide_serve(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    ns = await _run_fragment(_block("guides/simulator.md", "write_profiles("), {})
    assert ns["names"] == ["main", "sub001", "sub002"]
    assert {p.host for p in ns["profiles"].values()} == {ns["sim"].base_url}
    assert ns["credentials"] == ns["sim"].credentials


def _cli_sections() -> dict[str, set[str]]:
    """Options named in the first column of each command's table in cli.md."""
    text = (DOCS / "cli.md").read_text(encoding="utf-8")
    sections: dict[str, set[str]] = {}
    current = "*"
    for line in text.splitlines():
        heading = re.match(r"^## `okx-earn ([\w-]+)`", line)
        if heading:
            current = heading.group(1)
            sections.setdefault(current, set())  # a command group may have no options
        elif line.startswith("## "):
            current = "*" if line.startswith("## Options of every") else ""
        elif line.startswith("| `-") and current:
            first = line.split("|")[1]
            sections.setdefault(current, set()).update(re.findall(r"--[a-z][a-z-]*", first))
    return sections


def test_cli_page_documents_every_option() -> None:
    pytest.importorskip("click")
    from okx_onchain_earn.cli._app import cli

    sections = _cli_sections()
    common = sections.pop("*") - {"--help"}
    assert set(sections) == set(cli.commands), "one section per command"
    for name, command in cli.commands.items():
        real = {
            opt
            for param in command.params
            if not getattr(param, "hidden", False)
            for opt in (*param.opts, *param.secondary_opts)
            if opt.startswith("--") and opt != "--help"
        }
        # Commands taking every common option document them once, above.
        documented = sections[name] | (common if common <= real else set())
        assert documented == real, name
