"""Turning job results into JSON (one file) and CSV rows (batch)."""

from __future__ import annotations

import csv
import io
import math
import os
from pathlib import Path

CSV_COLUMNS = ["input", "status", "error", "duration_s", "dnsmos_ovrl_before", "dnsmos_ovrl_after",
               "lufs_before", "lufs_after", "true_peak_db_after", "real_time_factor", "outputs"]


def _clean(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def file_report(result, preset) -> dict:
    """JSON-ready description of a FileResult: outputs, timing and every measurement."""
    return {
        "input": str(result.input),
        "preset": preset.name,
        "outputs": {name: str(path) for name, path in result.outputs.items()},
        "duration_s": result.duration_s,
        "processing_s": round(result.seconds, 3),
        "real_time_factor": result.real_time_factor,
        "input_meter": result.input_meter,
        "output_meter": result.output_meter,
        "nodes": {node_id: [{"name": m.name, "value": _clean(m.value), "unit": m.unit,
                             "start_s": m.start_s, "end_s": m.end_s} for m in ms]
                  for node_id, ms in result.measurements.items()},
    }


def batch_row(input_path: Path, status: str, error: str = "", result=None) -> dict:
    """One CSV row; figures are empty when the file failed or was skipped."""
    row = {key: "" for key in CSV_COLUMNS}
    row.update(input=str(input_path), status=status, error=error)
    if result is not None:
        before, after = result.input_meter, result.output_meter
        row.update(
            duration_s=f"{result.duration_s:.3f}",
            dnsmos_ovrl_before=_fmt(before.get("dnsmos", {}).get("ovrl")),
            dnsmos_ovrl_after=_fmt(after.get("dnsmos", {}).get("ovrl")),
            lufs_before=_fmt(before.get("lufs")), lufs_after=_fmt(after.get("lufs")),
            true_peak_db_after=_fmt(after.get("true_peak_db")),
            real_time_factor=_fmt(result.real_time_factor, 4),
            outputs=";".join(str(p) for p in result.outputs.values()))
    return row


def _fmt(value, digits: int = 2) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return ""
    return f"{value:.{digits}f}"


def write_text_atomic(path: Path, text: str) -> None:
    """Write a report through a hidden temporary file, so a reader never sees half of it."""
    tmp = path.with_name(f".{path.name}.part")
    tmp.write_text(text, newline="")
    os.replace(tmp, path)


def write_csv(path: Path, rows: list[dict]) -> None:
    """Write the batch report atomically."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS)
    writer.writeheader()
    writer.writerows(rows)
    write_text_atomic(path, buffer.getvalue())
