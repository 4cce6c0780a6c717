"""MkDocs hook: publishes the benchmark plots beside the benchmarks page.

``python -m benchmarks`` writes ``benchmarks/results/results.md`` (included into
``docs/benchmarks/index.md`` by pymdownx.snippets) and PNG plots that it links by bare
file name. Serving each ``benchmarks/results/*.png`` as ``docs/benchmarks/<name>.png``
keeps those links working without copies that could go stale.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mkdocs.structure.files import File, Files

RESULTS = Path(__file__).resolve().parents[2] / "benchmarks" / "results"


def on_files(files: Files, config: Any) -> Files:
    for png in sorted(RESULTS.glob("*.png")):
        src_uri = f"benchmarks/{png.name}"
        if files.get_file_from_path(src_uri) is None:
            files.append(File.generated(config, src_uri, abs_src_path=str(png)))
    return files
