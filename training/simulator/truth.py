"""The simulator's truth: a label for every observable voyage, and the planted events.

A trip runs from one reported port call to the next, so a voyage whose hidden call is the
planted event is exactly the labelled interval. Trips cut by the edges of the data keep a label
for what happened inside the window: a dark event counts only when it shows as a gap, AIS off
and on again inside the window, at least ``MIN_OBSERVABLE_H`` long; otherwise it could not be
told from the edge of the data and the voyage is benign (noted as such).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .behaviours import DARK, SPOOFED

#: A planted dark event is labelled only if it shows as a gap inside the window (off and on
#: again) at least this long (h): less is nothing an analyst could see.
MIN_OBSERVABLE_H = 3.0
#: Behaviours that are suspicious whenever their trip overlaps the window.
_IDENTITY = ("mmsi_change", "false_destination", "shared_mmsi")


def _observable(ev: dict | None, t_start: float, t_end: float) -> bool:
    """A dark event shows in the data only as a gap: AIS off and on again inside the window.
    Dark when the data starts or still dark when it ends, it looks like the edge of the data.
    Made-up positions show the same way: begun and ended inside the window."""
    return ev is not None and t_start <= ev["t0"] and ev["t1"] <= t_end and ev["t1"] - ev["t0"] >= MIN_OBSERVABLE_H * 3600


def _cut(start: float, end: float, t_start: float, t_end: float) -> str:
    return {(True, True): "both", (True, False): "start", (False, True): "end"}.get((start < t_start, end > t_end), "")


def label_trips(trips: list[dict], cfg, rng, t_start: float, t_end: float) -> pd.DataFrame:
    """``mmsi, start, end, label, behaviour, source, note`` for every trip inside the window."""
    rows = []
    for trip in trips:
        start, end = max(trip["start"], t_start), min(trip["end"], t_end)
        if end <= start:
            continue
        b, ev = trip["behaviour"], trip["event"]
        cut = _cut(trip["start"], trip["end"], t_start, t_end)
        note = f"cut by the {'start and end' if cut == 'both' else cut} of the data" if cut else ""
        if (b in DARK or b in SPOOFED) and not _observable(ev, t_start, t_end):
            note, b = (note + "; " if note else "") + f"planted {b} not visible in the window", "normal"
        susp = b in DARK or b in SPOOFED or b in _IDENTITY
        if b.startswith("twin_") and ev is not None and not (ev["t0"] < t_end and ev["t1"] >= t_start):
            b = "normal"
        rows.append({"mmsi": trip["mmsi"], "start": start, "end": end, "label": "suspicious" if susp else "benign",
                     "behaviour": b, "source": "simulated", "note": note})
    lab = pd.DataFrame(rows)
    # The shared-MMSI window covers both hulls' voyages: it replaces their own labels there.
    shared = lab[lab["behaviour"] == "shared_mmsi"]
    drop = np.zeros(len(lab), bool)
    for s in shared.itertuples():
        drop |= ((lab["mmsi"] == s.mmsi) & (lab["behaviour"] != "shared_mmsi") & (lab["start"] < s.end)
                 & (lab["end"] > s.start)).to_numpy()
    lab = lab[~drop].copy()
    flip = rng.random(len(lab)) < cfg.label_noise
    lab.loc[flip, "label"] = np.where(lab.loc[flip, "label"] == "suspicious", "benign", "suspicious")
    lab.loc[flip, "note"] = "label noise: flipped on purpose"
    for c in ("start", "end"):
        lab[c] = pd.to_datetime(lab[c], unit="s", utc=True).dt.floor("s")
    return lab.sort_values(["mmsi", "start"], kind="stable").reset_index(drop=True)


def planted_events(trips: list[dict], t_start: float, t_end: float) -> pd.DataFrame:
    """One row per planted event (suspicious behaviours and benign twins) whose trip touches
    the window: vessel, behaviour, label, interval, place, hidden call port, partner vessel,
    and whether it is visible in the window."""
    rows = []
    for trip in trips:
        b = trip["behaviour"]
        if b == "normal" or trip["end"] <= t_start or trip["start"] >= t_end:
            continue
        ev = trip["event"] or {"t0": trip["start"], "t1": trip["end"], "lat": np.nan, "lon": np.nan, "port": "",
                               "partner": 0, "keep": 0.0, "ais": "on"}
        seen_as_gap = b in DARK or b in SPOOFED
        visible = _observable(trip["event"], t_start, t_end) if seen_as_gap else bool(ev["t0"] < t_end and ev["t1"] >= t_start)
        rows.append({"mmsi": trip["mmsi"], "partner_mmsi": ev["partner"] or "", "behaviour": b,
                     "label": "benign" if b.startswith("twin_") else "suspicious", "start": ev["t0"], "end": ev["t1"],
                     "hours": round((ev["t1"] - ev["t0"]) / 3600.0, 2), "lat": round(ev["lat"], 4),
                     "lon": round(ev["lon"], 4), "hidden_port": ev["port"], "ais": ev["ais"], "partial_keep": round(ev["keep"], 4), "visible_in_window": visible,
                     "trip_start": trip["start"], "trip_end": trip["end"]})
    cols = ["event_id", "mmsi", "partner_mmsi", "behaviour", "label", "start", "end", "hours", "lat", "lon",
            "hidden_port", "ais", "partial_keep", "visible_in_window", "trip_start", "trip_end"]
    if not rows:
        return pd.DataFrame(columns=cols)
    ev = pd.DataFrame(rows).sort_values(["start", "mmsi"], kind="stable").reset_index(drop=True)
    for c in ("start", "end", "trip_start", "trip_end"):
        ev[c] = pd.to_datetime(ev[c], unit="s", utc=True).dt.floor("s")
    ev.insert(0, "event_id", [f"ev{i:05d}" for i in range(len(ev))])
    return ev[cols]
