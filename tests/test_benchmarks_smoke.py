"""Smoke test of the benchmarks: they import, run tiny, and say the right things.

No timing is asserted: only the shape of the results, that numbers are positive, and
that the page our models decode holds exactly the amounts ``json.loads`` reads.
"""

from __future__ import annotations

import copy
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from benchmarks import bench_decode, runner
from benchmarks._common import Table
from benchmarks._page import amount_strings, exact, history_page
from benchmarks.contenders.ours import history_decoder

TYPED_ROWS = (
    "okx-onchain-earn",
    "msgspec, amounts eager Decimal",
)


@pytest.fixture(scope="module")
def decode_result() -> dict[str, Any]:
    return bench_decode.run(True, min_time=0.0005, repeat=1, alive_pages=0)


def test_runner_lists_every_benchmark() -> None:
    assert list(runner.BENCHMARKS) == [
        "decode",
        "client",
        "pacing",
        "pacing_micro",
        "scale",
        "fleet_memory",
        "venues",
    ]


def test_decode_result_structure(decode_result: dict[str, Any]) -> None:
    assert decode_result["name"] == "decode"
    data = decode_result["data"]
    assert data["orders"] == 100
    assert data["amounts_per_page"] == 400
    assert data["page_bytes"] > 0
    rows = {r["name"]: r for r in data["rows"]}
    for name in (*TYPED_ROWS, "json.loads"):
        row = rows[name]
        assert row["status"] == "ok"
        assert row["orders"] == 100
        for key in ("best_us", "median_us", "speed_vs_json_loads"):
            assert row[key] > 0
        # Decode alone and decode + read all are both measured, against one anchor.
        assert row["read_all_best_us"] > 0 and row["read_all_speed_vs_json_loads"] > 0
    for row in data["rows"]:
        # Every row either measured or says why not; never a number without a check.
        assert row["status"] == "ok" or row["status"].startswith("not installed")
        assert ("best_us" in row) == (row["status"] == "ok")
    headline, decode_only = data["targets"]
    assert "read every amount and timestamp" in headline["what"]
    assert "decode alone" in decode_only["what"]
    for target in (headline, decode_only):
        assert set(target) == {"what", "measured", "met"}
        assert target["measured"] > 0
    tables = [Table.from_dict(t) for t in decode_result["tables"]]
    assert len(tables) == 1
    assert len(tables[0].rows) == len(data["rows"])
    assert "json.loads" in tables[0].text()
    assert tables[0].markdown().startswith("### Decode")


def test_typed_contenders_have_exact_decimals(decode_result: dict[str, Any]) -> None:
    rows = {r["name"]: r for r in decode_result["data"]["rows"]}
    for name in TYPED_ROWS:
        assert rows[name]["exact_amounts"] is True
        assert rows[name]["amounts_checked"] == 400
    assert rows["json.loads"]["exact_amounts"] is None


def test_our_decoded_page_matches_json_loads_digit_for_digit() -> None:
    page = history_page()
    expected = amount_strings(page)
    plain = json.loads(page)["data"]
    orders = history_decoder().decode(page).data
    assert len(orders) == 100
    for order, want, raw in zip(orders, expected, plain, strict=True):
        got = [order.apy]
        got += [i.amt for i in order.invest_data]
        got += [e.realized_earnings for e in order.earning_data]
        assert len(order.earning_data) == 2
        assert all(isinstance(g, Decimal) for g in got)
        assert all(exact(g, w) for g, w in zip(got, want, strict=True))
        assert order.ord_id == raw["ordId"]
    # The page really has many decimals, or the check would prove little.
    assert max(len(s.partition(".")[2]) for row in expected for s in row) >= 15


def test_gc_load_counts_tracked_objects() -> None:
    load = bench_decode._gc_load(history_decoder().decode, history_page(), 3)
    assert load["gc_pages_alive"] == 3
    assert load["gc_tracked_per_page"] > 0
    assert load["gc_full_ms"] >= 0


def test_runner_writes_json_and_markdown(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    decode_result: dict[str, Any],
) -> None:
    # The runner's own work is under test here; the decode run is the fixture's.
    monkeypatch.setattr(bench_decode, "run", lambda quick: copy.deepcopy(decode_result))
    assert runner.main(["--only", "decode", "--out", str(tmp_path), "--no-plots"]) == 0
    results = json.loads((tmp_path / "results.json").read_text())
    assert set(results) >= {"machine", "quick", "benchmarks"}
    assert results["machine"]["python"]
    assert results["machine"]["cpu_count"] > 0
    assert "msgspec" in results["machine"]["packages"]
    assert list(results["benchmarks"]) == ["decode"]
    markdown = (tmp_path / "results.md").read_text()
    assert "| okx-onchain-earn |" in markdown
    assert "json.loads" in capsys.readouterr().out


def test_venues_benchmark_decodes_every_venue_and_reads_every_order() -> None:
    from benchmarks import bench_venues
    from okx_onchain_earn.venues import READERS

    result = bench_venues.run(True)
    assert result["name"] == "venues" and len(result["tables"]) == 2
    rows = result["data"]["decode"]
    assert [r["venue"] for r in rows] == [v for v in ("hashkey", "xt", "bybit") if v in READERS]
    for row in rows:
        assert row["orders"] > 0 and row["bytes"] > 0
        assert row["ours_best_us"] > 0 and row["speed_vs_json_loads"] > 0
    for read in (result["data"]["read_free"], result["data"]["read_paced"]):
        assert read["orders"] == read["sequential_orders"] > 0
        assert read["refused"] == 0
