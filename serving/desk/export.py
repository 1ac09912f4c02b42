"""What ``watch`` writes: its alerts as CSV, Parquet or an offline HTML page, and the new rows it
could not keep (``<out>.rejected.csv``)."""

from __future__ import annotations

import html
from pathlib import Path

import pandas as pd

from features.io import check_output, write_rejected, write_table
from features.pipeline import RowCounts

ALERT_SUFFIXES = (".csv", ".parquet", ".html")


def check_alerts_output(out: Path) -> Path:
    return check_output(out, ALERT_SUFFIXES, "watch output")


def write_alerts(alerts: pd.DataFrame, rejected: pd.DataFrame, out: Path, counts: RowCounts, meta: dict) -> Path:
    """``alerts`` to ``out`` by suffix (counts and ``meta`` as every table carries them); the
    rejected rows beside it. Returns the rejected file's path."""
    out = Path(out)
    if out.suffix.lower() == ".html":
        out.write_text(alerts_page(alerts, meta), encoding="utf-8")
    else:
        write_table(alerts, out, counts, meta)
    return write_rejected(rejected if len(rejected) else pd.DataFrame({"_reason": []}), out)


def alerts_page(alerts: pd.DataFrame, meta: dict) -> str:
    """One self-contained page (no scripts, no network): the run's alerts as a table."""
    head = "".join(f"<th>{html.escape(c)}</th>" for c in alerts.columns)
    body = "".join("<tr>" + "".join(f"<td>{html.escape('' if pd.isna(v) else str(v))}</td>" for v in row) + "</tr>"
                   for row in alerts.itertuples(index=False))
    title = f"darkvoyage watch: {len(alerts)} new alert(s), run {html.escape(str(meta.get('run', '')))}"
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{title}</title><style>"
            "body{font:14px system-ui,sans-serif;margin:1.5em}table{border-collapse:collapse}"
            "td,th{border:1px solid #ccc;padding:.3em .5em;text-align:left;vertical-align:top}"
            f"</style></head><body><h1>{title}</h1><table><tr>{head}</tr>{body}</table></body></html>")
