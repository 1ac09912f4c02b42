"""Watchlist files: CSV, Parquet, GeoJSON and a self-contained offline HTML report, plus
sanctions-list matching."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd

from features.config import DEFAULT, PACKAGED_DATA
from features.errors import OutputError
from features.io import arrow_table, check_output
from .pages import page
from .scoring import WATCHLIST_COLUMNS, Scored


SUFFIXES = (".csv", ".parquet", ".geojson", ".html")


class ExportError(OutputError):
    """A watchlist output or sanctions list darkvoyage cannot use."""


def check_suffix(path: Path) -> str:
    """The watchlist format of ``path`` (its suffix), checked before any work is done."""
    return check_output(path, SUFFIXES, "watchlist output").suffix.lower()


# --- sanctions ------------------------------------------------------------------------------

def _norm_name(s) -> str:
    if s is None or (isinstance(s, float) and np.isnan(s)):
        return ""
    s = re.sub(r"[^A-Z0-9 ]+", " ", str(s).upper())
    s = re.sub(r"\b(MV|M V|MT|M T|SS|THE)\b", " ", s)
    return re.sub(r"\s+", " ", s).strip()


def _digits(s) -> str:
    return re.sub(r"\D", "", str(s)) if s is not None and not (isinstance(s, float) and np.isnan(s)) else ""


def read_sanctions(path: Path) -> pd.DataFrame:
    """A CSV with any of IMO, MMSI, name columns (the shape of the public US/UK/EU lists)."""
    if not Path(path).is_file():
        raise ExportError(f"{path}: no such sanctions file")
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as err:
        raise ExportError(f"{path}: not a readable CSV ({str(err).splitlines()[0]})") from None
    cols = {c.lower().strip(): c for c in df.columns}
    pick = {k: next((cols[c] for c in cols if c == k or c.startswith(k) or c.endswith(k)), None)
            for k in ("imo", "mmsi", "name")}
    if not any(pick.values()):
        raise ExportError(f"{path}: sanctions file needs an IMO, MMSI or name column")
    out = pd.DataFrame({
        "imo": df[pick["imo"]].map(_digits) if pick["imo"] else "",
        "mmsi": df[pick["mmsi"]].map(_digits) if pick["mmsi"] else "",
        "name": df[pick["name"]].map(_norm_name) if pick["name"] else ""})
    return out


def match_sanctions(wl: pd.DataFrame, voyages: pd.DataFrame, sanctions: pd.DataFrame) -> pd.Series:
    """Per watchlist row: how it matched ("IMO 9123456", "MMSI ...", "name ...") or empty.
    IMO first, then MMSI, then the normalised name."""
    imo_of = voyages.drop_duplicates("track_id").set_index("track_id")["imo"]
    imos = set(sanctions["imo"]) - {""}
    mmsis = set(sanctions["mmsi"]) - {""}
    names = set(sanctions["name"]) - {""}
    out = []
    for r in wl.itertuples(index=False):
        imo = _digits(imo_of.get(r.track_id, ""))
        if len(imo) >= 7 and imo[-7:] in {i[-7:] for i in imos}:
            out.append(f"IMO {imo[-7:]}")
        elif str(r.mmsi) in mmsis:
            out.append(f"MMSI {r.mmsi}")
        elif _norm_name(r.name) and _norm_name(r.name) in names:
            out.append(f"name {_norm_name(r.name)}")
        else:
            out.append("")
    return pd.Series(out, index=wl.index, dtype="str")


# --- writers ---------------------------------------------------------------------------------

def write_watchlist(wl: pd.DataFrame, scored: Scored, out: Path, levels: dict | None = None) -> Path:
    """The watchlist to ``out`` by suffix, with the input's row counts (when ``scored`` has
    them) in the Parquet metadata or in ``<out>.rows.json`` beside the other formats."""
    from features.io import counts_meta, write_meta_beside
    suffix = check_suffix(out)
    meta = counts_meta(scored.counts) if scored.counts is not None else {}
    if suffix == ".csv":
        wl.to_csv(out, index=False, date_format="%Y-%m-%dT%H:%M:%SZ")
    elif suffix == ".parquet":
        import pyarrow.parquet as pq
        table = arrow_table(wl)
        pq.write_table(table.replace_schema_metadata({**(table.schema.metadata or {}), **meta}), out)
    elif suffix == ".geojson":
        out.write_text(json.dumps(geojson(wl, scored), default=_json_default))
    else:
        out.write_text(html_report(wl, scored, levels or {}))
    if meta and suffix != ".parquet":
        write_meta_beside(out, meta)
    return out


def _json_default(v):
    if isinstance(v, (pd.Timestamp,)):
        return v.isoformat()
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (np.floating,)):
        return None if not np.isfinite(v) else float(v)
    return str(v)


def _props(row: dict) -> dict:
    p = {}
    for k, v in row.items():
        if isinstance(v, float) and not np.isfinite(v):
            v = None
        elif v is pd.NaT or (not isinstance(v, (str, list, dict)) and pd.isna(v)):
            v = None
        p[k] = v
    return p


class _Fixes:
    """Each voyage's fixes, found by binary search on the positions (sorted by MMSI, track,
    time) rather than by scanning every fix once per listed vessel."""

    def __init__(self, scored: Scored):
        pos = scored.tracks.positions
        self.pos = pos
        self.voyages = scored.voyages.set_index("voyage_id")
        self.key = (pos["mmsi"].to_numpy(np.int64) << 20) + pos["track_no"].to_numpy(np.int64)
        self.t = np.asarray(pos["timestamp"].dt.as_unit("us").array.asi8)

    def __call__(self, voyage_id: str, track_id: str) -> pd.DataFrame:
        v = self.voyages.loc[voyage_id]
        mmsi, track = track_id.rsplit("-", 1)
        k = (int(mmsi) << 20) + int(track)
        a, b = np.searchsorted(self.key, k, "left"), np.searchsorted(self.key, k, "right")
        t = self.t[a:b]  # microseconds; Timestamp.value below is nanoseconds
        lo = a + np.searchsorted(t, pd.Timestamp(v["start"]).value // 1000, "left")
        hi = a + np.searchsorted(t, pd.Timestamp(v["end"]).value // 1000, "right")
        return self.pos.iloc[lo:hi][["timestamp", "lat", "lon", "step_km"]]


def _gaps(fixes: pd.DataFrame, gap_h: float = DEFAULT.gap_hours) -> list[tuple]:
    """(fix before, fix after, hours) of every gap longer than ``gap_h`` in one voyage's fixes."""
    t = fixes["timestamp"]
    dt = t.diff().dt.total_seconds().to_numpy() / 3600.0
    idx = np.flatnonzero(dt > gap_h)
    return [(fixes.iloc[i - 1], fixes.iloc[i], dt[i]) for i in idx]


def geojson(wl: pd.DataFrame, scored: Scored) -> dict:
    """Per listed vessel: its riskiest voyage's track, each gap, and its port visits."""
    feats = []
    fixes = _Fixes(scored)
    vt = fixes.voyages
    visits = scored.tracks.visits
    pos = scored.tracks.positions
    last = _last_positions(scored)
    for row in wl.to_dict("records"):
        props = _props(row)
        if props["voyage_id"] is None:
            # No voyage (insufficient data): where the vessel was last seen, and its port visit.
            if row["track_id"] in last.index:
                p = last.loc[row["track_id"]]
                feats.append({"type": "Feature", "geometry": {"type": "Point", "coordinates": [
                    round(float(p["last_lon"]), 6), round(float(p["last_lat"]), 6)]},
                    "properties": {**props, "feature": "last_position", "time": pd.Timestamp(p["last_time"]).isoformat(),
                                   "n_positions": int(p["n_positions"])}})
            feats += _visit_features(props, row["track_id"], visits, pos, scored)
            continue
        fx = fixes(row["voyage_id"], row["track_id"])
        coords = [[round(float(a), 6), round(float(b), 6)] for a, b in zip(fx["lon"], fx["lat"])]
        if len(coords) == 1:
            coords = coords * 2
        if coords:
            feats.append({"type": "Feature", "geometry": {"type": "LineString", "coordinates": coords},
                          "properties": {**props, "feature": "voyage"}})
        v = vt.loc[row["voyage_id"]]
        for a, b, hours in _gaps(fx):
            feats.append({"type": "Feature", "geometry": {"type": "LineString", "coordinates": [
                [float(a["lon"]), float(a["lat"])], [float(b["lon"]), float(b["lat"])]]},
                "properties": {**props, "feature": "gap", "gap_start": a["timestamp"].isoformat(),
                               "gap_end": b["timestamp"].isoformat(), "hours": round(float(hours), 2),
                               "dark_call_port": None if pd.isna(v["dc_port"]) else v["dc_port"],
                               "dark_call_spare_h": None if pd.isna(v["dc_port_spare_h"]) else round(float(v["dc_port_spare_h"]), 1)}})
        feats += _visit_features(props, row["track_id"], visits, pos, scored)
    if scored.events is not None:  # --other-vessels: a line between the two vessels of each meeting
        from .event_links import link_features
        feats += link_features(scored.events, wl["mmsi"])
    return {"type": "FeatureCollection", "features": feats}


def _visit_features(props: dict, track_id: str, visits: pd.DataFrame, pos: pd.DataFrame, scored: Scored) -> list[dict]:
    """GeoJSON points for the port visits of one track."""
    feats = []
    mmsi, track = track_id.rsplit("-", 1)
    for vis in visits.itertuples():
        p0 = pos.iloc[vis.first_row]
        if int(p0["mmsi"]) != int(mmsi) or int(p0["track_no"]) != int(track):
            continue
        gz_id = scored_port_id(scored, vis.port_idx)
        feats.append({"type": "Feature", "geometry": {"type": "Point", "coordinates": [float(p0["lon"]), float(p0["lat"])]},
                      "properties": {**props, "feature": "port_visit", "port_id": gz_id,
                                     "arrival": pd.Timestamp(vis.arrival_s, unit="s", tz="UTC").isoformat(),
                                     "departure": pd.Timestamp(vis.departure_s, unit="s", tz="UTC").isoformat(),
                                     "entry_observed": bool(vis.entry_observed), "exit_observed": bool(vis.exit_observed)}})
    return feats


def _last_positions(scored: Scored) -> pd.DataFrame:
    """The tracks without a voyage, by track_id (empty when there are none)."""
    nv = scored.no_voyage
    if nv is None or len(nv) == 0:
        return pd.DataFrame(columns=["last_lat", "last_lon", "last_time", "n_positions"], index=pd.Index([], name="track_id"))
    return nv.set_index("track_id")


def scored_port_id(scored: Scored, idx: int) -> str:
    return str(scored.gaz.ids[idx])


# --- HTML ------------------------------------------------------------------------------------

def _water_paths() -> list[list[list[float]]]:
    gj = json.loads((PACKAGED_DATA / "caspian_water.geojson").read_text())
    rings = []
    for f in gj["features"]:
        g = f["geometry"]
        if g["type"] == "Polygon":
            rings += [[[round(x, 3), round(y, 3)] for x, y in ring[::2]] for ring in g["coordinates"]]
    return rings


def map_base(gaz) -> dict:
    """What every page's map draws under a vessel: the Caspian's water (rings of [lon, lat])
    and the gazetteer's ports (id, short name, lat, lon, sensitive)."""
    return {"water": _water_paths(),
            "ports": [{"id": str(i), "name": gaz.short_name(k), "lat": float(gaz.lat[k]), "lon": float(gaz.lon[k]),
                       "sensitive": bool(gaz.sensitive[k])} for k, i in enumerate(gaz.ids)]}


def html_report(wl: pd.DataFrame, scored: Scored, levels: dict) -> str:
    """A single self-contained page (no network): map, sortable table, per-vessel timelines."""
    base = map_base(scored.gaz)
    fixes = _Fixes(scored)
    vt = fixes.voyages
    last = _last_positions(scored)
    vessels = []
    for row in wl.to_dict("records"):
        props = _props(row)
        if props["voyage_id"] is None:
            # Insufficient data: no voyage, no risk; a dot where it was last seen.
            p = last.loc[row["track_id"]] if row["track_id"] in last.index else None
            vessels.append({"rank": int(row["rank"]), "mmsi": int(row["mmsi"]), "name": props["name"],
                            "risk": None, "level": row["level"], "voyage": None, "start": None, "end": None,
                            "origin": None, "dest": None, "partial": "",
                            "track": [] if p is None else [[round(float(p["last_lon"]), 4), round(float(p["last_lat"]), 4)]],
                            "gaps": [], "dc_port": None, "reasons": row["reasons"]})
            continue
        fx = fixes(row["voyage_id"], row["track_id"])
        v = vt.loc[row["voyage_id"]]
        gaps = [{"a": [float(a["lon"]), float(a["lat"])], "b": [float(b["lon"]), float(b["lat"])],
                 "t0": a["timestamp"].isoformat(), "t1": b["timestamp"].isoformat(), "h": round(float(h), 1)}
                for a, b, h in _gaps(fx)]
        step = max(len(fx) // 400, 1)
        vessels.append({"rank": int(row["rank"]), "mmsi": int(row["mmsi"]), "name": props["name"],
                        "risk": float(row["risk"]), "level": row["level"], "voyage": row["voyage_id"],
                        "start": pd.Timestamp(row["voyage_start"]).isoformat(), "end": pd.Timestamp(row["voyage_end"]).isoformat(),
                        "origin": props["origin_port"], "dest": props["destination_port"],
                        "partial": props.get("partial") or "",
                        "track": [[round(float(a), 4), round(float(b), 4)] for a, b in zip(fx["lon"].iloc[::step], fx["lat"].iloc[::step])],
                        "gaps": gaps, "dc_port": None if pd.isna(v["dc_port"]) else str(v["dc_port"]),
                        "reasons": row["reasons"]})
    columns = [c for c in WATCHLIST_COLUMNS if c != "track_id"]
    rows = []
    for row in wl.to_dict("records"):
        p = _props(row)
        rows.append({"mmsi": int(row["mmsi"]), "level_class": re.sub(r"[^a-z0-9]+", "-", str(row["level"]).lower()),
                     "cells": ["" if p.get(c) is None else (f"{p[c]:.3f}" if c == "risk" else str(p[c])) for c in columns]})
    data = {**base, "vessels": vessels, "levels": levels}
    if scored.events is not None:  # --other-vessels
        from .event_links import map_links
        data["links"] = map_links(scored.events, wl["mmsi"])
    data = json.dumps(data)
    # The data sits in a <script> element: "</" must not close it early.
    return page("watchlist.html").render(columns=columns, rows=rows, data=data.replace("</", "<\\/"), n=len(wl))
