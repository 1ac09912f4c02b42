"""Identity (issue #23): one hull across MMSIs, many hulls on one MMSI, faked positions.

Pure over the tracked fixes, like :mod:`features.events`:

- :func:`link_identities`: old -> new identity links with their evidence, confidence, level
  and chain (the contract's identity link columns; :mod:`.links` has the rule);
- :func:`identity_events`: ``identity_change`` (one per link), ``shared_mmsi`` (two tracks of
  one MMSI reporting at once, :mod:`.shared`) and ``spoofing`` (:mod:`.spoofing`, the detail
  names the typology), as event rows;
- :func:`earlier_mmsis`: per MMSI, the earlier MMSIs of its chain (the watchlist's
  ``identities``);
- :func:`hull_events`: the events of those that rest on one MMSI's own fixes and that the
  watchlist's ranking acts on (``training/identity_ranking.py``): two hulls on the number,
  positions made up (:data:`HULL_TYPES`); :func:`identity_evidence` gives them with the links.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..config import DEFAULT, Config
from ..events.frame import Fixes, event_frame, event_ids, fmt, fixes_of
from ..gazetteer import Gazetteer
from ..ids import str_array
from ..tracks import utc_times
from .ends import TrackEnds, track_ends
from .links import Pairs, candidate_pairs, confidence, score_pairs
from .shared import shared_mmsi_events
from .spoofing import circles, fixed_position, spoofing_events

__all__ = ["LINK_COLUMNS", "HULL_TYPES", "link_identities", "identity_events", "events_of_fixes", "earlier_mmsis",
           "links_of_fixes", "links_of_ends", "hull_events", "identity_evidence"]

#: The contract's identity link columns, then the positions of both ends and the evidence
#: counts an analyst filters on.
LINK_COLUMNS = ("from_mmsi", "to_mmsi", "from_track_id", "to_track_id", "from_end", "to_start", "gap_h",
                "distance_km", "implied_speed_kn", "same_imo", "name_similarity", "same_callsign", "confidence",
                "level", "chain_id", "evidence", "from_lat", "from_lon", "to_lat", "to_lon", "at_sea",
                "from_heard_again", "competitors")


def link_identities(positions: pd.DataFrame, cfg: Config = DEFAULT) -> pd.DataFrame:
    """Old -> new identity links of tracked fixes (``TrackResult.positions``, sorted by mmsi,
    track, time): :data:`LINK_COLUMNS`, one row per link, by ``from_end``."""
    if not len(positions):
        return _no_links()
    return links_of_fixes(fixes_of(positions, cfg), cfg)[0]


def links_of_fixes(fx: Fixes, cfg: Config) -> tuple[pd.DataFrame, TrackEnds]:
    """(links, track ends) of a :class:`Fixes`."""
    e = track_ends(fx)
    return links_of_ends(e, cfg), e


def links_of_ends(e: TrackEnds, cfg: Config = DEFAULT) -> pd.DataFrame:
    """The links of :class:`TrackEnds` (what a distributed engine gathers per MMSI bucket)."""
    a, b = candidate_pairs(e, cfg)
    p = score_pairs(e, a, b, cfg)
    conf, comp = confidence(p)
    keep = _mutual_best(p, conf, cfg)
    return _frame(e, p, conf, comp, keep, cfg)


def _mutual_best(p: Pairs, conf: np.ndarray, cfg: Config) -> np.ndarray:
    """Pairs at least ``identity_possible`` that are the most confident of their old track
    and of their new track (ties: the earlier pair)."""
    ok = np.flatnonzero(conf >= cfg.identity_possible)
    if not len(ok):
        return ok
    order = ok[np.lexsort((ok, -conf[ok]))]
    _, first_a = np.unique(p.a[order], return_index=True)
    _, first_b = np.unique(p.b[order], return_index=True)
    best = np.zeros(len(order), bool)
    best[first_a] = True
    both = np.zeros(len(order), bool)
    both[first_b] = True
    return np.sort(order[best & both])


def _chains(a: np.ndarray, b: np.ndarray, n_tracks: int) -> np.ndarray:
    """Per link, the track index that starts its chain (each track has at most one link in
    and one out; a chain's labels settle in as many rounds as it has links).

    >>> _chains(np.array([0, 1, 5]), np.array([1, 2, 6]), 7).tolist()
    [0, 0, 5]
    """
    root = np.arange(n_tracks)
    for _ in range(len(a) + 1):  # links follow time (candidate_pairs), so chains end
        new = root.copy()
        new[b] = root[a]
        if np.array_equal(new, root):
            break
        root = new
    return root[a]


def _no_links() -> pd.DataFrame:
    return _typed({c: [] for c in LINK_COLUMNS})


def _frame(e: TrackEnds, p: Pairs, conf, comp, keep: np.ndarray, cfg: Config) -> pd.DataFrame:
    if not len(keep):
        return _no_links()
    a, b, c = p.a[keep], p.b[keep], conf[keep]
    root = _chains(a, b, e.n)
    cols = {
        "from_mmsi": e.mmsi[a], "to_mmsi": e.mmsi[b], "from_track_id": e.track_id[a], "to_track_id": e.track_id[b],
        "from_end": e.t1_us[a], "to_start": e.t0_us[b], "gap_h": p.gap_h[keep], "distance_km": p.km[keep],
        "implied_speed_kn": p.speed_kn[keep], "same_imo": p.same_imo[keep], "name_similarity": p.name_sim[keep],
        "same_callsign": p.same_callsign[keep], "confidence": c,
        "level": np.where(c >= cfg.identity_likely, "likely", "possible"), "chain_id": e.track_id[root],
        "evidence": _evidence(e, p, keep, comp[keep]), "from_lat": e.lat1[a], "from_lon": e.lon1[a],
        "to_lat": e.lat0[b], "to_lon": e.lon0[b], "at_sea": p.at_sea[keep], "from_heard_again": p.reappears[keep],
        "competitors": comp[keep],
    }
    out = _typed(cols)
    return out.sort_values(["from_end", "from_mmsi"], kind="stable").reset_index(drop=True)


def _typed(cols: dict) -> pd.DataFrame:
    def boolean(v):  # 1.0 / 0.0 / NaN unknown
        v = np.asarray(v, float)
        return pd.arrays.BooleanArray(v == 1, ~np.isfinite(v))
    out = {
        "from_mmsi": np.asarray(cols["from_mmsi"], np.int64), "to_mmsi": np.asarray(cols["to_mmsi"], np.int64),
        "from_track_id": str_array(np.asarray(cols["from_track_id"], object)),
        "to_track_id": str_array(np.asarray(cols["to_track_id"], object)),
        "from_end": utc_times(np.asarray(cols["from_end"], np.int64)),
        "to_start": utc_times(np.asarray(cols["to_start"], np.int64)),
    }
    for c in ("gap_h", "distance_km", "implied_speed_kn", "name_similarity", "confidence", "from_lat", "from_lon",
              "to_lat", "to_lon"):
        out[c] = np.asarray(cols[c], float)
    out["same_imo"] = boolean(cols["same_imo"])
    out["same_callsign"] = boolean(cols["same_callsign"])
    for c in ("level", "chain_id", "evidence"):
        out[c] = str_array(np.asarray(cols[c], object))
    out["at_sea"] = np.asarray(cols["at_sea"], bool)
    out["from_heard_again"] = np.asarray(cols["from_heard_again"], bool)
    out["competitors"] = np.asarray(cols["competitors"], np.int64)
    return pd.DataFrame(out)[list(LINK_COLUMNS)]


def _evidence(e: TrackEnds, p: Pairs, keep: np.ndarray, comp: np.ndarray) -> np.ndarray:
    """Plain language per link: where and when the new identity appeared, then each piece of
    static evidence that is known."""
    a, b = p.a[keep], p.b[keep]
    gap = p.gap_h[keep]
    old = e.mmsi[a].astype(str)
    s = pd.Series(np.where(gap >= 0, "appeared " + fmt(p.km[keep], "%.0f").astype(object) + " km from where " + old
                           + " went dark " + fmt(gap, "%.1f").astype(object) + " h earlier",
                           "began " + fmt(-gap, "%.1f").astype(object) + " h before " + old + " stopped, "
                           + fmt(p.km[keep], "%.0f").astype(object) + " km away"), dtype=object)
    s += np.where(p.at_sea[keep], ", at sea", np.where(e.port1[a] | e.port0[b], ", at a port", ""))
    imo = e.static1["imo"][a]
    s += np.where(p.same_imo[keep] == 1, "; same IMO " + imo.astype(str), "")
    sim = p.name_sim[keep]
    s += np.where(np.isfinite(sim), "; names " + e.static1["name"][a] + " / " + e.static0["name"][b] + " ("
                  + fmt(sim, "%.0f").astype(object) + " % alike)", "")
    call = p.same_callsign[keep]
    s += np.where(call == 1, "; same call sign", np.where(call == 0, "; call signs differ", ""))
    s += np.where(p.type_diff[keep], "; ship types differ", "")
    s += np.where(p.reappears[keep], "; " + old + " heard again after", "; " + old + " not heard again")
    s += np.where(comp > 0, "; " + comp.astype(str) + " other candidate(s)", "")
    return s.to_numpy(dtype=object)


def earlier_mmsis(links: pd.DataFrame, level: str = "likely") -> dict[int, list[int]]:
    """Per MMSI that a chain of ``level`` links reached, the chain's earlier MMSIs, oldest
    first.

    >>> lk = pd.DataFrame({"from_mmsi": [1, 2], "to_mmsi": [2, 3], "level": ["likely", "likely"],
    ...                    "chain_id": ["1-0", "1-0"], "from_end": [0, 5]})
    >>> earlier_mmsis(lk)
    {2: [1], 3: [1, 2]}
    """
    lk = links[links["level"] == level].sort_values("from_end", kind="stable")
    out: dict[int, list[int]] = {}
    for _, g in lk.groupby("chain_id", sort=False):  # one small group per chain, not per row
        seq = [int(g["from_mmsi"].iloc[0])] + [int(m) for m in g["to_mmsi"]]
        for i in range(1, len(seq)):
            out[seq[i]] = [m for m in dict.fromkeys(seq[:i]) if m != seq[i]]
    return out


def identity_events(positions: pd.DataFrame, gaz: Gazetteer, cfg: Config = DEFAULT,
                    jumps: pd.DataFrame | None = None, links: pd.DataFrame | None = None) -> pd.DataFrame:
    """``identity_change``, ``shared_mmsi`` and ``spoofing`` events (the event columns) of
    tracked fixes; ``jumps``: the rows rejected as implausible jumps (mmsi, timestamp, lat,
    lon), for the jumps-that-come-back typology; ``links``: from :func:`link_identities`, if
    already found."""
    if not len(positions):
        return event_frame("identity_change", 0, mmsi=np.zeros(0, np.int64))
    return events_of_fixes(fixes_of(positions, cfg), gaz, cfg, jumps, links)


def events_of_fixes(fx: Fixes, gaz: Gazetteer, cfg: Config = DEFAULT, jumps: pd.DataFrame | None = None,
                    links: pd.DataFrame | None = None) -> pd.DataFrame:
    """:func:`identity_events` of a :class:`Fixes` (what :func:`features.events.detect_events`
    has built already)."""
    if links is None:
        links = links_of_fixes(fx, cfg)[0]
    parts = [change_events(links, gaz), shared_mmsi_events(fx, cfg, jumps), spoofing_events(fx, cfg, jumps)]
    return pd.concat([x for x in parts if len(x)] or [parts[0]], ignore_index=True)


def change_events(links: pd.DataFrame, gaz: Gazetteer) -> pd.DataFrame:
    """One ``identity_change`` event per link: on the new identity's track, the partner the
    old MMSI, from the old one's last fix to the new one's first."""
    n = len(links)
    lat, lon = links["from_lat"].to_numpy(float), links["from_lon"].to_numpy(float)
    idx, km = gaz.nearest(lat, lon)
    near = idx >= 0
    near[near] &= km[near] <= gaz.radius_km[idx[near]]
    port = np.where(near, gaz.ids[np.maximum(idx, 0)] if gaz.n else None, None).astype(object)
    t0 = links["from_end"].array.asi8 if n else np.zeros(0, np.int64)
    t1 = links["to_start"].array.asi8 if n else np.zeros(0, np.int64)
    detail = (links["level"].astype(object) + " (" + links["confidence"].map("{:.2f}".format) + "): "
              + links["evidence"].astype(object)) if n else pd.Series([], dtype=object)
    return event_frame("identity_change", n, event_id=event_ids("identity_change", links["to_mmsi"], t0,
                                                                links["from_mmsi"]),
                       mmsi=links["to_mmsi"], track_id=links["to_track_id"].to_numpy(object),
                       partner_mmsi=links["from_mmsi"], start=t0, end=t1, hours=links["gap_h"], lat=lat, lon=lon,
                       end_lat=links["to_lat"], end_lon=links["to_lon"], port_id=port,
                       km_to_port=np.where(idx >= 0, km, np.nan), implied_speed_kn=links["implied_speed_kn"],
                       identity_changed=np.ones(n, bool), detail=detail.to_numpy(object))


#: Columns (and Spark types) of :func:`hull_events`: few rows, gathered to one machine.
HULL_TYPES = {"kind": "string", "mmsi": "long", "track_id": "string", "start": "timestamp", "end": "timestamp",
              "lat": "double", "lon": "double", "end_lat": "double", "end_lon": "double", "detail": "string"}


def hull_events(fx: Fixes, cfg: Config = DEFAULT, jumps: pd.DataFrame | None = None,
                cells: np.ndarray | None = None) -> pd.DataFrame:
    """The ``shared_mmsi`` events and the ``spoofing`` ones of typologies ``fixed position`` and
    ``circles``: what one MMSI's own fixes show (so a distributed engine finds them per MMSI
    bucket), in :data:`HULL_TYPES` columns. Shared MMSIs drawn by GPS interference are dropped:
    the interference is found from every vessel's ``jumps``, or given as its ``cells``
    (:func:`features.identity.interference.interference_cells`, what a bucket receives)."""
    parts = [shared_mmsi_events(fx, cfg, jumps, cells), fixed_position(fx, cfg), circles(fx, cfg)]
    ev = pd.concat([p for p in parts if len(p)] or [parts[0]], ignore_index=True)[list(HULL_TYPES)]
    # One order whatever found them (a distributed engine gathers them bucket by bucket).
    return ev.sort_values(["kind", "mmsi", "start", "track_id"], kind="stable").reset_index(drop=True)


def identity_evidence(positions: pd.DataFrame, cfg: Config = DEFAULT,
                      jumps: pd.DataFrame | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(links, hull events) of tracked fixes, from one pass over them: what the watchlist's
    ranking reads (:func:`link_identities`, :func:`hull_events`)."""
    if not len(positions):
        return _no_links(), event_frame("shared_mmsi", 0, mmsi=np.zeros(0, np.int64))[list(HULL_TYPES)]
    fx = fixes_of(positions, cfg)
    return links_of_fixes(fx, cfg)[0], hull_events(fx, cfg, jumps)
