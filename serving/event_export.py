"""Event tables out: ``.csv`` / ``.parquet`` (row accounting as for ``tracks``/``features``) and
``.geojson`` (points for single-place events, lines for gaps and for the two-vessel events)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd

from features.events import meeting_points
from features.io import check_output, write_table
from features.pipeline import RowCounts

EVENT_SUFFIXES = (".csv", ".parquet", ".geojson")
#: Kinds drawn as a line from (lat, lon) to (end_lat, end_lon); two-vessel kinds pass through
#: the meeting place, so the line links both vessels' tracks.
LINE_KINDS = ("gap", "possible_dark_port_call", "encounter", "dark_rendezvous", "identity_change", "shared_mmsi")


def check_events_output(path: Path) -> Path:
    return check_output(path, EVENT_SUFFIXES, "events output")


def _num(v):
    if v is None or v is pd.NA or (isinstance(v, float) and not math.isfinite(v)):
        return None
    if isinstance(v, np.generic):
        return v.item()
    return v


_POSITIONS = ("lat", "lon", "end_lat", "end_lon", "from_lat", "from_lon", "to_lat", "to_lon")


def _record(row: dict) -> dict:
    """JSON-ready properties: times as ISO 8601 UTC, NaN/NA as null, floats rounded."""
    out = {}
    for k, v in row.items():
        if isinstance(v, pd.Timestamp):
            out[k] = v.strftime("%Y-%m-%dT%H:%M:%SZ")
        elif isinstance(v, float) and math.isfinite(v):
            out[k] = round(v, 6 if k in _POSITIONS else 3)
        else:
            out[k] = _num(v)
    return out


def events_geojson(events: pd.DataFrame) -> dict:
    """FeatureCollection, one feature per event: a Point at (lat, lon) for port visits and
    loitering; a LineString start -> end for gaps and dark calls; for encounters and
    rendezvous first vessel -> meeting place -> partner, so the map links the two tracks."""
    mlat, mlon = meeting_points(events) if len(events) else (np.zeros(0), np.zeros(0))
    feats = []
    for k, row in enumerate(events.to_dict("records")):
        props = _record(row)
        a = [props["lon"], props["lat"]]
        b = [props["end_lon"], props["end_lat"]]
        if row["kind"] in LINE_KINDS and b[0] is not None and b[1] is not None:
            coords = [a, b]
            if row["kind"] in ("encounter", "dark_rendezvous"):
                coords = [a, [round(float(mlon[k]), 6), round(float(mlat[k]), 6)], b]
            geom = {"type": "LineString", "coordinates": coords}
        else:
            geom = {"type": "Point", "coordinates": a}
        feats.append({"type": "Feature", "geometry": geom, "properties": props})
    return {"type": "FeatureCollection", "features": feats}


def write_events(events: pd.DataFrame, out: Path, counts: RowCounts | None = None, meta: dict | None = None) -> Path:
    """``events`` to ``out`` by suffix; counts and settings as in :func:`features.io.write_table`
    (for ``.geojson`` in ``<out>.rows.json``)."""
    out = Path(out)
    if out.suffix.lower() != ".geojson":
        return write_table(events, out, counts, meta)
    return write_geojson(events_geojson(events), out, counts, meta)


def write_geojson(collection: dict, out: Path, counts: RowCounts | None, meta: dict | None) -> Path:
    """A FeatureCollection to ``out``, the row counts and settings to ``<out>.rows.json``."""
    out.write_text(json.dumps(collection, allow_nan=False))
    side = {"darkvoyage.rows": counts.to_dict() if counts else None}
    side.update({f"darkvoyage.{k}": v for k, v in (meta or {}).items()})
    Path(str(out) + ".rows.json").write_text(json.dumps(side, indent=1, default=str))
    return out


def identities_geojson(links: pd.DataFrame) -> dict:
    """FeatureCollection, one LineString per identity link: where the old identity went dark
    -> where the new one appeared."""
    feats = []
    for row in links.to_dict("records"):
        props = _record(row)
        coords = [[props["from_lon"], props["from_lat"]], [props["to_lon"], props["to_lat"]]]
        feats.append({"type": "Feature", "geometry": {"type": "LineString", "coordinates": coords}, "properties": props})
    return {"type": "FeatureCollection", "features": feats}


def write_identities(links: pd.DataFrame, out: Path, counts: RowCounts | None = None, meta: dict | None = None) -> Path:
    """Identity links to ``out`` by suffix (``.csv``, ``.parquet``, ``.geojson``)."""
    out = Path(out)
    if out.suffix.lower() != ".geojson":
        return write_table(links, out, counts, meta)
    return write_geojson(identities_geojson(links), out, counts, meta)
