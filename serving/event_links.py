"""Other-vessel evidence for the watchlist (issue #14, item 2): reasons and map links from the
event table's encounters and dark rendezvous.

Train/serve rule: encounters and rendezvous need every vessel's traffic, which ``/score`` (one
track) does not have, so they never enter the model. They are shown beside the model's risk:
appended to a vessel's ``reasons`` ("met 422232979 at sea while both were dark, 9 h") and drawn
as a line between the two tracks; ``risk`` stays a one-track probability.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.events import meeting_points

TWO_VESSEL_KINDS = ("encounter", "dark_rendezvous")
#: Reasons named per vessel; more are summed up as "and N more meetings".
MAX_REASONS = 3


def _states(detail: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Per rendezvous row: (first vessel dark?, partner dark?) from the detail's two sides."""
    sides = detail.astype("str").str.extract(r"^\S+ (dark|loitering)[^,]*, \S+ (dark|loitering)")
    return (sides[0] == "dark").to_numpy(bool), (sides[1] == "dark").to_numpy(bool)


def _phrases(ev: pd.DataFrame, me_dark: np.ndarray, other_dark: np.ndarray, partner: np.ndarray) -> np.ndarray:
    hours = np.char.add(np.char.mod("%.0f", np.round(ev["hours"].to_numpy(float))), " h")
    enc = ev["kind"].to_numpy() == "encounter"
    who = partner.astype(str)
    text = np.where(me_dark & other_dark, np.char.add(np.char.add("met ", who), " at sea while both were dark, "),
           np.where(me_dark, np.char.add(np.char.add("met ", who), " (loitering at sea, AIS on) while dark, "),
                    np.char.add(np.char.add("met ", who), " (dark) while loitering at sea with AIS on, ")))
    text = np.where(enc, np.char.add(np.char.add("alongside ", who), " at sea (encounter, AIS on), "), text)
    return np.char.add(text, hours)


def two_vessel_events(tracks, gaz, cfg) -> pd.DataFrame | None:
    """Encounters and rendezvous of a local engine's ``TrackResult`` (None without one: the
    Spark engine keeps no tracked fixes on the driver)."""
    if tracks is None or gaz is None:
        return None
    from features.events import detect_events
    return detect_events(tracks.positions, tracks.visits, gaz, cfg, kinds=TWO_VESSEL_KINDS)


def other_vessel_reasons(events: pd.DataFrame, max_reasons: int = MAX_REASONS) -> pd.Series:
    """Plain-language reasons per MMSI (index) from encounters and rendezvous, longest first,
    both vessels of each row; vessels with none are absent."""
    ev = events[events["kind"].isin(TWO_VESSEL_KINDS)].reset_index(drop=True)
    if not len(ev):
        return pd.Series(dtype="str", name="other_vessel_reasons")
    a_dark, b_dark = _states(ev["detail"])
    rdv = ev["kind"].to_numpy() == "dark_rendezvous"
    a_dark, b_dark = a_dark & rdv, b_dark & rdv
    mmsi, partner = ev["mmsi"].to_numpy(np.int64), ev["partner_mmsi"].to_numpy(np.int64)
    rows = pd.DataFrame({
        "mmsi": np.r_[mmsi, partner],
        "text": np.r_[_phrases(ev, a_dark, b_dark, partner), _phrases(ev, b_dark, a_dark, mmsi)],
        "hours": np.r_[ev["hours"].to_numpy(float), ev["hours"].to_numpy(float)],
    }).sort_values(["mmsi", "hours"], ascending=[True, False], kind="stable")
    rows["k"] = rows.groupby("mmsi").cumcount()
    n = rows.groupby("mmsi").size()
    text = rows[rows["k"] < max_reasons].groupby("mmsi")["text"].agg("; ".join)
    more = (n - max_reasons).clip(lower=0)
    text = text.where(more == 0, text + "; and " + more.astype(str) + " more meetings")
    return text.rename("other_vessel_reasons")


def append_reasons(reasons: pd.Series, mmsi: pd.Series, events: pd.DataFrame) -> pd.Series:
    """``reasons`` (watchlist column) with each vessel's other-vessel reasons appended."""
    extra = pd.Series(mmsi.to_numpy(np.int64)).map(other_vessel_reasons(events)).fillna("").to_numpy(dtype=str)
    base = reasons.fillna("").astype("str").to_numpy(dtype=str)
    joined = np.where(extra == "", base, np.where(base == "", extra, np.char.add(np.char.add(base, "; "), extra)))
    return pd.Series(joined, index=reasons.index, dtype="str")


def link_features(events: pd.DataFrame, mmsis=None) -> list[dict]:
    """GeoJSON LineString features linking the two vessels of each encounter and rendezvous
    (first vessel -> meeting place -> partner), optionally only rows naming one of ``mmsis``."""
    ev = events[events["kind"].isin(TWO_VESSEL_KINDS)]
    if mmsis is not None:
        keep = set(int(m) for m in mmsis)
        ev = ev[ev["mmsi"].isin(keep) | ev["partner_mmsi"].isin(keep)]
    if not len(ev):
        return []
    mlat, mlon = meeting_points(ev)
    out = []
    for k, r in enumerate(ev.itertuples(index=False)):
        coords = [[round(float(r.lon), 5), round(float(r.lat), 5)], [round(float(mlon[k]), 5), round(float(mlat[k]), 5)],
                  [round(float(r.end_lon), 5), round(float(r.end_lat), 5)]]
        out.append({"type": "Feature", "geometry": {"type": "LineString", "coordinates": coords},
                    "properties": {"feature": "link", "kind": r.kind, "mmsi": int(r.mmsi),
                                   "partner_mmsi": int(r.partner_mmsi), "start": r.start.isoformat(),
                                   "end": r.end.isoformat(), "hours": round(float(r.hours), 2), "detail": str(r.detail)}})
    return out


def add_other_vessel_evidence(wl: pd.DataFrame, scored, cfg) -> pd.DataFrame:
    """The watchlist with other-vessel reasons appended; the encounters and rendezvous go to
    ``scored.events`` for the map (None on an engine without tracked fixes). ``risk`` is
    untouched: the evidence is shown beside it, never in it."""
    scored.events = two_vessel_events(scored.tracks, scored.gaz, cfg)
    if scored.events is None or not len(scored.events) or not len(wl):
        return wl
    return wl.assign(reasons=append_reasons(wl["reasons"], wl["mmsi"], scored.events))


def map_links(events: pd.DataFrame | None, mmsis) -> list[dict]:
    """For the watchlist page: per encounter or rendezvous naming a listed vessel, the first
    vessel's position ``a``, the meeting place ``m``, the partner's ``b`` (lon, lat) and the
    words for a tooltip."""
    if events is None:
        return []
    out = []
    for f in link_features(events, mmsis):
        a, m, b = f["geometry"]["coordinates"]
        p = f["properties"]
        out.append({"a": a, "m": m, "b": b, "kind": p["kind"],
                    "text": f"{p['mmsi']} / {p['partner_mmsi']}: {p['kind'].replace('_', ' ')}, {p['hours']:.0f} h"})
    return out
