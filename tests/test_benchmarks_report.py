"""The benchmark report as the docs page shows it: headings, sections, tables and plots.

No benchmark is timed here: the report and the plots are drawn from small made-up
results shaped as the benchmarks write them.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest

from benchmarks import bench_fleet_memory, runner
from benchmarks._common import Table

ROOT = Path(__file__).resolve().parent.parent
MACHINE = {
    "python": "3.11.7",
    "implementation": "CPython",
    "platform": "Linux-6.1-x86_64",
    "cpu_model": "Test CPU",
    "cpu_count": 2,
    "cpus_usable": 2,
    "memory_gib": 23.5,
    "git_revision": "abc1234-dirty",
    "git_date": "2026-11-29",
    "packages": {"msgspec": "0.19.0", "ccxt": None},
    "started_at": "2026-11-29T07:30:00+0000",
    "finished_at": "2026-11-29T07:33:00+0000",
}


def _wide(rows: int) -> Table:
    table = Table("Wide", ["uids", "page", *(f"c{i}" for i in range(12))], notes=["a note"])
    for r in range(rows):
        table.add(r // 2, r % 2, *(f"{r}.{i}" for i in range(12)))
    return table


def test_a_narrow_table_is_left_as_it_is() -> None:
    table = Table("Narrow", ["a", "b"], [["1", "2"]])
    assert runner.page_tables(table) == [table]


def test_a_wide_table_of_few_rows_is_transposed() -> None:
    (flipped,) = runner.page_tables(_wide(4))
    # Rows are told apart by (uids, page): both head each column.
    assert flipped.columns == ["uids / page", "0 / 0", "0 / 1", "1 / 0", "1 / 1"]
    assert flipped.rows[0] == ["c0", "0.0", "1.0", "2.0", "3.0"]
    assert len(flipped.rows) == 12
    assert flipped.notes == ["a note"]


def test_a_wide_table_of_many_rows_is_split_repeating_its_key_columns() -> None:
    parts = runner.page_tables(_wide(10))
    assert len(parts) == 2
    assert all(len(p.columns) <= runner.MAX_COLUMNS for p in parts)
    assert all(p.columns[:2] == ["uids", "page"] for p in parts)
    assert [c for p in parts for c in p.columns[2:]] == [f"c{i}" for i in range(12)]
    assert parts[1].title == "Wide (continued)"
    assert parts[0].notes == [] and parts[1].notes == ["a note"]
    assert parts[1].rows[9][:2] == ["4", "1"]


def _results() -> dict[str, Any]:
    table = Table("Decode one page", ["contender", "µs"], [["ours", "1.0"]])
    return {
        "machine": MACHINE,
        "quick": False,
        "benchmarks": {
            "decode": {
                "tables": [table.as_dict()],
                "elapsed_s": 40.7,
                "loadavg_before": [0.4, 0.9, 1.9],
                "loadavg_after": [0.7, 0.9, 1.9],
            },
            "fleet_memory": {"tables": [_wide(10).as_dict()], "elapsed_s": 4.3},
        },
    }


def test_report_names_the_commit_and_the_machine() -> None:
    text = runner.markdown(_results(), {"decode": ["decode.png"]})
    head = text.split("<!-- --8<-- [end:machine] -->")[0]
    assert "Measured at commit `abc1234` of 2026-11-29, with uncommitted changes" in head
    assert "from 2026-11-29 07:30 UTC to 2026-11-29 07:33 UTC" in head
    assert "Test CPU, 2 logical CPUs (2 usable), 23.5 GiB of memory" in head
    assert "ccxt not installed" in head


def test_report_sections_have_titles_and_markers_for_every_benchmark() -> None:
    text = runner.markdown(_results(), {"decode": ["decode.png"]})
    headings = re.findall(r"^## (.+)$", text, re.M)
    assert headings == [runner.TITLES[name] for name in runner.BENCHMARKS]
    assert not set(headings) & set(runner.BENCHMARKS)  # no raw ids such as fleet_memory
    for name in runner.BENCHMARKS:
        start, end = f"<!-- --8<-- [start:{name}] -->", f"<!-- --8<-- [end:{name}] -->"
        assert text.count(start) == 1 and text.index(start) < text.index(end)
    assert "_Not measured in this run (`python -m benchmarks --only scale`)._" in text
    assert "_Measured in 41 s; load average (1 min) 0.4 before, 0.7 after._" in text
    assert "_Measured in 4.3 s._" in text
    assert "![Decode](decode.png)" in text
    # The wide table was reshaped for the page.
    assert "### Wide (continued)" in text


def test_the_docs_page_includes_every_section_of_the_report() -> None:
    page = (ROOT / "docs" / "benchmarks" / "index.md").read_text(encoding="utf-8")
    included = re.findall(r'^--8<-- "benchmarks/results/results\.md:(\w+)"$', page, re.M)
    assert included == ["machine", *runner.BENCHMARKS]


def test_the_committed_report_has_every_section() -> None:
    # mkdocs --strict fails on a missing section; this says which one, sooner.
    text = (ROOT / "benchmarks" / "results" / "results.md").read_text(encoding="utf-8")
    for name in ("machine", *runner.BENCHMARKS):
        assert f"<!-- --8<-- [start:{name}] -->" in text


def test_fleet_memory_is_measured_in_a_fresh_interpreter() -> None:
    result = bench_fleet_memory.run(True, accounts=20)
    data = result["data"]
    assert data["pid"] != os.getpid()
    assert data["accounts"] == 20
    assert data["rss"]["start_abs"] > 0
    table = Table.from_dict(result["tables"][0])
    assert "RSS added (MB)" in table.columns
    assert any("RSS added = resident memory the fleet added" in n for n in table.notes)


# --- plots ---------------------------------------------------------------------------


@pytest.fixture
def drawn(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """(figure, renderer) of every figure a plot saves, drawn but not written."""
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figures: list[Any] = []

    def keep(fig: Any, path: Any, **kwargs: Any) -> None:
        canvas = FigureCanvasAgg(fig)
        canvas.draw()  # type: ignore[no-untyped-call]
        figures.append((fig, canvas.get_renderer()))  # type: ignore[no-untyped-call]

    monkeypatch.setattr(Figure, "savefig", keep)
    return figures


def _texts(fig: Any) -> list[str]:
    out = [t.get_text() for ax in fig.axes for t in ax.texts]
    out += [t.get_text() for ax in fig.axes for t in ax.get_xticklabels()]
    return out


def _inside_axes(fig: Any, renderer: Any) -> None:
    for ax in fig.axes:
        box = ax.get_window_extent(renderer)
        for text in ax.texts:
            ext = text.get_window_extent(renderer)
            assert box.x0 <= ext.x0 and ext.x1 <= box.x1, text.get_text()
            assert box.y0 <= ext.y0 and ext.y1 <= box.y1, text.get_text()


def test_client_plot_labels_bars_and_marks_a_missing_one_na(
    drawn: list[Any], tmp_path: Path
) -> None:
    from benchmarks import bench_client

    rows = [
        {
            "name": "okx-onchain-earn",
            "sequential": {"cpu_us_per_page": 735.5},
            "concurrent": {"cpu_us_per_page": 549.7},
        },
        {"name": "python-okx", "sequential": {"cpu_us_per_page": 2129.5}, "concurrent": None},
    ]
    bench_client.plot({"data": {"rows": rows, "concurrency": 16}}, tmp_path)
    ((fig, renderer),) = drawn
    texts = _texts(fig)
    assert "n/a\n(blocking)" in texts
    for value in ("736", "550", "2,130"):
        assert value in texts, texts
    _inside_axes(fig, renderer)


def _scale_row(n: int, pages: float, cpu: float, busy: float) -> dict[str, Any]:
    return {
        "accounts": n,
        "pages_per_s": pages,
        "cpu_us_per_page": cpu,
        "client_cpu_util": busy,
        "sim_cpu_util": busy / 2,
    }


def test_scale_plot_has_plain_axis_numbers_and_labels_inside_the_axes(
    drawn: list[Any], tmp_path: Path
) -> None:
    from benchmarks import bench_scale

    rows = [
        _scale_row(1, 988, 642.7, 0.63),
        _scale_row(10, 1683, 591.9, 1.0),
        _scale_row(100, 1965, 507.8, 1.0),
        _scale_row(1000, 1429, 698.7, 1.0),
    ]
    floor = [_scale_row(r["accounts"], r["pages_per_s"] * 1.1, 500.0, 1.0) for r in rows]
    bench_scale.plot({"data": {"rows": rows, "anchor_rows": floor}}, tmp_path)
    ((fig, renderer),) = drawn
    for ax in fig.axes:
        assert [t.get_text() for t in ax.get_xticklabels()] == ["1", "10", "100", "1,000"]
        # The anchor is drawn beside the SDK, and named.
        legend = ax.get_legend()
        assert legend is not None
        assert [t.get_text() for t in legend.get_texts()] == [
            "floor (aiohttp + HMAC + msgspec)",
            "okx-onchain-earn",
        ]
    assert "988/s\n63% / 32%" in _texts(fig)
    _inside_axes(fig, renderer)


def test_scale_measures_the_floor_beside_the_sdk() -> None:
    from benchmarks import bench_scale

    result = bench_scale.run(True, account_counts=(1, 3), duration=0.2, warmup=0.05)
    data = result["data"]
    assert [r["accounts"] for r in data["rows"]] == [1, 3]
    assert [r["accounts"] for r in data["anchor_rows"]] == [1, 3]
    assert {r["name"] for r in data["anchor_rows"]} == {bench_scale.FLOOR}
    for r in data["rows"] + data["anchor_rows"]:
        assert r["pages"] > 0 and not r["failures"]
    table = Table.from_dict(result["tables"][0])
    assert [row[1] for row in table.rows] == ["SDK", "floor", "SDK", "floor"]
    assert [row[5] for row in table.rows][1::2] == ["1.00×", "1.00×"]


def test_pacing_plot_says_one_uid(drawn: list[Any], tmp_path: Path) -> None:
    from benchmarks import bench_pacing

    row = {
        "uids": 1,
        "page": 100,
        "util_mean": 0.99,
        "util_min": 0.98,
        "util_max": 1.0,
        "wire_ms_mean": 1.7,
        "server_429": 0,
    }
    many = {**row, "uids": 1000}
    bench_pacing.plot({"data": {"rows": [row, many], "allowed_per_s": 3}}, tmp_path)
    labels = _texts(drawn[0][0])
    assert "1 uid\n100/page" in labels
    assert "1,000 uids\n100/page" in labels
