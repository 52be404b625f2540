"""The sweep's summary: one row per render as CSV and JSON, and a captioned contact sheet of the finals."""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from PIL import Image

from ..outputs import atomic_write_text, load_image, save_png
from ..run_folder import RunFolder
from ..sheet import contact_sheet
from .job import JobResult
from .plan import Job

COLUMNS = ["index", "name", "status", "action", "seed", "steps_done", "loss", "score", "seconds", "error"]
TILE = 160
#: the most renders summary.png shows (the first ones, in sweep order): 200 tiles are about 7 megapixels,
#: which any viewer opens; summary.csv and summary.json always list every render
MAX_SHEET_TILES = 200


def rows(jobs: Sequence[Job], results: Sequence[JobResult]) -> list[dict[str, Any]]:
    """One row per job in sweep order: the result, the varied settings, and where its image lies."""
    out = []
    for job, result in zip(jobs, results):
        final = RunFolder(job.run_dir).final
        row = result.to_json()
        row["final"] = str(final) if final.is_file() and result.status in ("completed", "diverged") else None
        out.append(row)
    return out


def write_summaries(out: Path, jobs: Sequence[Job], results: Sequence[JobResult]) -> dict[str, Path]:
    """``summary.json``, ``summary.csv`` and ``summary.png`` in ``out``, each written atomically."""
    table = rows(jobs, results)
    counts = Counter(row["status"] for row in table)
    paths = {"json": out / "summary.json", "csv": out / "summary.csv", "png": out / "summary.png"}
    document = {"renders": len(table), "counts": dict(counts), "jobs": table}
    atomic_write_text(paths["json"], json.dumps(document, indent=2))
    atomic_write_text(paths["csv"], to_csv(table))
    save_png(paths["png"], sheet(jobs, table))
    return paths


def to_csv(table: list[dict[str, Any]]) -> str:
    keys: list[str] = []
    for row in table:
        keys += [key for key in row["variation"] if key not in keys and key not in COLUMNS]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([*COLUMNS, *keys, "run_dir", "final"])
    for row in table:
        variation = row["variation"]
        writer.writerow(
            [_cell(row[c]) for c in COLUMNS]
            + [_cell(variation.get(k, "")) for k in keys]
            + [row["run_dir"], row["final"] or ""]
        )
    return buffer.getvalue()


def _cell(value: Any) -> Any:
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, (list, dict)):
        return json.dumps(value)
    return "" if value is None else value


def sheet(jobs: Sequence[Job], table: list[dict[str, Any]], limit: int = MAX_SHEET_TILES) -> Image.Image:
    """Finals in sweep order, captioned with what varied and the seed; a grey tile marks a render with no image.

    Only the first ``limit`` renders are shown (the title says so), so a huge sweep's sheet stays an
    image a viewer can open and is quick to write, even when a Ctrl-C ends the sweep.
    """
    images, captions = [], []
    title = f"the first {limit} of {len(table)} renders (all in summary.csv)" if len(table) > limit else None
    for job, row in list(zip(jobs, table))[:limit]:
        if row["final"]:
            image = load_image(row["final"], "final image")
            factor = max(1, TILE // max(image.size))
            images.append(image.resize((image.width * factor, image.height * factor), Image.NEAREST))
        else:
            images.append(Image.new("RGB", (TILE, TILE), (200, 200, 200)))
        status = "" if row["status"] == "completed" else f"{row['status'].upper()} "
        seed = f" seed={row['seed']}" if "seed" not in job.variation and row.get("seed") not in (None, "") else ""
        captions.append(f"{job.index} {status}{job.caption()}{seed}")
    return contact_sheet(images, captions, tile=TILE, title=title)
