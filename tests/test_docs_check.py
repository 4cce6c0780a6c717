"""The browser docs check (tests/docs_check.py) finds what it promises to find.

The site check itself runs in CI on the real built site (``.ci/run``); here it runs on a
small site made for the test, one page clean and the others with one fault each, so
each kind of problem is shown to be caught and a clean page to pass. The browser tests
need Debian's ``chromium``: skipped without it, except in CI, where that is a failure.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import pytest

from tests import docs_check
from tests.docs_check import check_site, class_problems, constant_default, find_chromium

_PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>{title}</title>
<link rel="icon" href="data:,"></head>
<body><article class="md-content__inner" style="width: 600px; padding: 0 20px">
{body}
</article></body></html>
"""

_ORDER_ACK = """
<div class="doc doc-object doc-class">
<h2 id="okx_onchain_earn.models.OrderAck" class="doc doc-heading">OrderAck</h2>
<div class="doc doc-contents">
<p class="doc doc-class-bases">Bases: <code>_Model</code></p>
<p><span class="doc-section-title">Attributes:</span></p>
<table><thead><tr><th>Name</th><th>Type</th><th>Description</th></tr></thead>
<tbody><tr><td><code>ord_id</code></td><td><code>_OrdId</code></td><td><p>Order id.</p></td></tr>
</tbody></table>
<div class="doc-signature"><pre><code>f(timeout: float = C.DEFAULT_TIMEOUT)</code></pre></div>
</div></div>
"""


def _site(root: Path) -> Path:
    pages = {
        "index.html": (
            '<h1 id="top">Home</h1><p><a href="good/#here">good</a> <a href="bad/">bad</a>'
            ' <a href="models/">models</a> <a href="https://example.invalid/">away</a></p>'
            "<table><tr><th>a</th><th>b</th></tr><tr><td>1</td><td>2</td></tr></table>"
            "<pre><code>short = 1</code></pre>"
        ),
        "good/index.html": '<h2 id="here">Here</h2><p><a href="../#top">home</a></p>',
        "bad/index.html": (
            "<script>console.error('boom')</script>"
            '<p><a href="../missing/">gone</a> <a href="../good/#nowhere">no anchor</a></p>'
            '<img src="nope.png" alt="">'
            '<link rel="stylesheet" href="https://assets.invalid/x.css">'
            '<table style="width: 3000px"><tr><th>wide</th></tr></table>'
            "<pre><code>" + "x" * 400 + "</code></pre>"
        ),
        "models/index.html": _ORDER_ACK,
    }
    for rel, body in pages.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(_PAGE.format(title=rel, body=body), encoding="utf-8")
    return root


@pytest.fixture(scope="module")
def problems(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    binary = find_chromium()
    if binary is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is required in CI")
        pytest.skip("chromium not installed")
    site = _site(tmp_path_factory.mktemp("site"))
    required = ["okx_onchain_earn.models.OrderAck", "okx_onchain_earn.models.Offer"]
    return asyncio.run(check_site(site, binary=binary, required=required))


def _on(problems: list[str], page: str) -> list[str]:
    return [p.removeprefix(f"{page}: ") for p in problems if p.startswith(f"{page}: ")]


def test_a_clean_page_passes(problems: list[str]) -> None:
    assert _on(problems, "/good/") == []
    # The home page links out (not fetched) and holds a narrow table and code block.
    assert _on(problems, "/") == []


def test_console_errors_and_failed_requests_are_caught(problems: list[str]) -> None:
    bad = _on(problems, "/bad/")
    assert "console.error: boom" in bad
    assert any(p.startswith("HTTP 404 for ") and p.endswith("/bad/nope.png") for p in bad)
    assert any(p.startswith("image does not load: ") for p in bad)


def test_requests_to_another_host_are_caught(problems: list[str]) -> None:
    assert "asks another host: https://assets.invalid/x.css" in _on(problems, "/bad/")


def test_broken_links_and_anchors_are_caught(problems: list[str]) -> None:
    assert "/bad/: link 'gone' → missing/: no such page or file" in problems
    assert "/bad/: link 'no anchor' → good/#nowhere: no such anchor" in problems
    assert not any("'good'" in p or "'home'" in p or "'away'" in p for p in problems)


def test_wide_tables_and_code_are_caught(problems: list[str]) -> None:
    bad = _on(problems, "/bad/")
    assert any(p.startswith("table wider than the 600 px column by ") for p in bad)
    assert any(p.startswith("code wider than the 600 px column by ") for p in bad)


def test_model_reference_faults_are_caught(problems: list[str]) -> None:
    models = _on(problems, "/models/")
    name = "okx_onchain_earn.models.OrderAck"
    assert f"{name}: shows a private base (Bases: _Model)" in models
    assert f"{name}: fields missing from its Attributes: tag" in models
    assert f"{name}.ord_id: type names a private alias (_OrdId)" in models
    assert any(p.startswith("a signature shows a constant's name") for p in models)
    assert "okx_onchain_earn.models.Offer: no reference entry on any page" in problems


def test_every_public_model_is_required() -> None:
    required = docs_check.public_models()
    for name in ("Offer", "OrderAck", "ActiveOrder", "HistoryOrder", "InvestData"):
        assert f"okx_onchain_earn.models.{name}" in required
    assert "okx_onchain_earn.models.decode_page" not in required


def test_constant_defaults_are_told_from_enum_members() -> None:
    assert constant_default("f(timeout: float = C.DEFAULT_TIMEOUT)") == "= C.DEFAULT_TIMEOUT"
    assert constant_default("Fault(delay: float = DEFAULT_SLOW_DELAY)") is not None
    assert constant_default("E(rule: RateRule = RateRule.USER_ID)") is None
    assert constant_default("f(timeout: float = 10.0, base: str = 'x')") is None


def test_class_problems_need_a_type_and_a_description_for_every_field() -> None:
    entry: dict[str, Any] = {
        "id": "okx_onchain_earn.models.OrderAck",
        "bases": "Bases: Struct",
        "rows": [["ord_id", "str", "Order id."], ["tag", "str | None", ""]],
    }
    assert class_problems(entry) == ["okx_onchain_earn.models.OrderAck.tag: no description"]
    entry["rows"] = None
    assert class_problems(entry) == [
        "okx_onchain_earn.models.OrderAck: no Attributes table (fields: ord_id, tag)"
    ]
    # Not a Struct nor a dataclass: nothing to list.
    assert class_problems({"id": "okx_onchain_earn.client.OnchainEarnClient"}) == []


def test_quick_start_says_where_its_commands_run() -> None:
    # The package is not on PyPI: both commands install from a clone.
    root = Path(__file__).resolve().parent.parent
    commands = None
    for page in (root / "README.md", root / "docs" / "index.md"):
        text = page.read_text(encoding="utf-8")
        quick = text.split("## Quick start", 1)[1].split("\n## ", 1)[0]
        assert "clone of this" in quick and "not published on PyPI yet" in quick, page
        found = [line for line in quick.splitlines() if line.startswith("python3 -m venv")]
        assert len(found) == 2, page
        commands = commands or found
        assert found == commands  # the README and the home page give the same two
