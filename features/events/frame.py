"""Shared ground of the event detectors: the tracked fixes as numpy columns, and the event table.

Every detector takes a :class:`Fixes` (built once from ``TrackResult.positions``, sorted by
(mmsi, track_no, timestamp)) and returns a frame with exactly :data:`EVENT_COLUMNS`; its
``_``-prefixed helper columns, if any, are dropped by :func:`features.events.detect_events`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..config import Config
from ..geo import KM_PER_NM, haversine_km
from ..families.motion import usual_speed_kn_of
from ..ids import track_ids, utc_stamps
from ..tracks import epoch_us, group_starts, utc_times

#: The contract's event columns (CONTRACT.md, "Event columns"), in order.
EVENT_COLUMNS = ("event_id", "kind", "mmsi", "track_id", "partner_mmsi", "start", "end", "hours", "lat", "lon",
                 "end_lat", "end_lon", "port_id", "km_to_port", "implied_speed_kn", "coverage_share",
                 "neighbours_reporting", "identity_changed", "detail")
#: Event kinds, in the order the table is sorted by.
#: The kinds :mod:`features.identity` finds, all three in one pass.
IDENTITY_KINDS = ("identity_change", "shared_mmsi", "spoofing")
EVENT_KINDS = ("gap", "port_visit", "loitering", "possible_dark_port_call", "encounter", "dark_rendezvous",
               *IDENTITY_KINDS)
#: Short event-id prefix per kind.
ID_PREFIX = {"gap": "gap", "port_visit": "visit", "loitering": "loiter", "possible_dark_port_call": "dcall",
             "encounter": "enc", "dark_rendezvous": "rdv", "identity_change": "idchg", "shared_mmsi": "shared",
             "spoofing": "spoof"}
#: Columns of ``TrackResult.positions`` that :func:`fixes_of` reads (those present).
FIXES_INPUTS = ("mmsi", "track_no", "timestamp", "lat", "lon", "sog", "step_km", "near_port", "visit", "name",
                "callsign", "imo", "ship_type")
_FLOATS = ("hours", "lat", "lon", "end_lat", "end_lon", "km_to_port", "implied_speed_kn", "coverage_share",
           "neighbours_reporting")
US_PER_H = 3_600_000_000  # microseconds in an hour


@dataclass
class Fixes:
    """Columns of the tracked fixes, length n, sorted by (mmsi, track_no, time).

    ``tid``: global track index; ``speed_kn``: reported SOG, else the speed implied by the
    step from the previous fix of the track (NaN at a track's first fix when SOG is missing);
    ``near_port``/``visit``: from :func:`features.voyages.port_visits`; ``usual_kn``: per track,
    the speed used for reach and sailing times (the voyage features' rule);
    ``step_km``: length n - 1, the step from fix i to i + 1; ``interval_kn``: length n - 1, the
    speed that step implies (kn; a step of under ``min_step_s`` counts as that long, two fixes at
    one time stamp as infinitely fast); ``identity``: the static columns (name, callsign, imo,
    ship_type) as given, read for a few rows by :meth:`static_at`.
    """

    mmsi: np.ndarray
    track_no: np.ndarray
    tid: np.ndarray
    t_us: np.ndarray
    lat: np.ndarray
    lon: np.ndarray
    speed_kn: np.ndarray
    near_port: np.ndarray
    visit: np.ndarray
    usual_kn: np.ndarray
    identity: dict[str, pd.Series]
    step_km: np.ndarray  # length n - 1: great-circle step from fix i to i + 1 (0 across tracks)
    interval_kn: np.ndarray  # length n - 1: the speed step_km implies (kn)

    @property
    def n(self) -> int:
        return len(self.mmsi)

    def same_track_next(self) -> np.ndarray:
        """Length n - 1: interval i (fix i -> i + 1) lies within one track."""
        return self.tid[1:] == self.tid[:-1]

    def static_at(self, col: str, rows: np.ndarray) -> np.ndarray | None:
        """The static column ``col`` at ``rows`` as text objects (None where missing); None
        when the input has no such column. Only those rows are converted: a whole categorical
        column as objects costs ~0.3 s per million fixes, and every reader wants a few rows
        (gap ends, track ends)."""
        col_ = self.identity.get(col)
        return None if col_ is None else col_.take(np.asarray(rows)).to_numpy(dtype=object, na_value=None)

    def track_ids(self, rows: np.ndarray) -> np.ndarray:
        """``<mmsi>-<track_no>`` of the given fixes, as in the voyage table."""
        return track_ids(self.mmsi[rows], self.track_no[rows]).to_numpy(dtype=object)


def fixes_of(pos: pd.DataFrame, cfg: Config) -> Fixes:
    """:class:`Fixes` from ``TrackResult.positions`` (columns mmsi, track_no, timestamp, lat,
    lon, near_port, visit, optionally sog and identity columns)."""
    n = len(pos)
    mmsi = pos["mmsi"].to_numpy(np.int64)
    track_no = pos["track_no"].to_numpy(np.int64)
    tid = (np.cumsum(group_starts(mmsi, track_no)) - 1).astype(np.int64)
    t_us = epoch_us(pos["timestamp"])
    lat, lon = pos["lat"].to_numpy(float), pos["lon"].to_numpy(float)
    sog = pos["sog"].to_numpy(float) if "sog" in pos else np.full(n, np.nan)
    # The tracker's steps (0 across a track start), else computed.
    step = (pos["step_km"].to_numpy(float)[1:] if "step_km" in pos
            else haversine_km(lat[:-1], lon[:-1], lat[1:], lon[1:]) if n > 1 else np.zeros(0))
    speed = sog.copy()
    miss = np.flatnonzero(~np.isfinite(speed[1:])) + 1
    if len(miss):
        dt_h = np.maximum((t_us[miss] - t_us[miss - 1]) / US_PER_H, cfg.min_step_s / 3600.0)
        speed[miss] = np.where(tid[miss] == tid[miss - 1], step[miss - 1] / dt_h / KM_PER_NM, np.nan)
    n_tracks = int(tid[-1]) + 1 if n else 0
    usual = _usual_speed_kn(tid, t_us, sog, step, n_tracks, cfg) if n else np.zeros(0)
    ident = {c: pos[c] for c in ("name", "callsign", "imo", "ship_type") if c in pos}
    dt_h = np.diff(t_us) / 3.6e9
    with np.errstate(invalid="ignore", divide="ignore"):
        iv_kn = np.where(dt_h > 0, step / np.maximum(dt_h, cfg.min_step_s / 3600.0) / KM_PER_NM, np.inf)
    return Fixes(mmsi, track_no, tid, t_us, lat, lon, speed, pos["near_port"].to_numpy(np.int64),
                 pos["visit"].to_numpy(np.int64), usual, ident, step, iv_kn)


def _usual_speed_kn(tid, t_us, sog, step_km, n_tracks: int, cfg: Config) -> np.ndarray:
    """Per track: the voyage features' usual speed (:func:`features.families.motion.usual_speed_kn_of`)."""
    dt = np.diff(t_us) / 1e6
    with np.errstate(invalid="ignore", divide="ignore"):
        step_kn = step_km / dt * (3600.0 / KM_PER_NM)
    return usual_speed_kn_of(tid, sog, dt, step_kn, tid[1:] == tid[:-1], n_tracks, cfg)


def track_key(mmsi, track_no) -> np.ndarray:
    """One sortable int64 per track, in (mmsi, track_no) order, for tables that pool many
    vessels' rows without a :class:`Fixes` (a vessel has far fewer than 2**24 tracks).

    >>> track_key(np.array([273000001, 273000001, 273000002]), np.array([0, 1, 0])).argsort().tolist()
    [0, 1, 2]
    """
    return np.asarray(mmsi, np.int64) * (1 << 24) + np.asarray(track_no, np.int64)


def norm_text(a: np.ndarray) -> np.ndarray:
    """Upper-case text with spaces and punctuation dropped; '' for missing, '0' or 'None'. A
    number read as a float from one file and as text from another (IMO 9472012.0) is one.

    >>> norm_text(np.array(["Kaspiy-12", None, "9472012.0", "0"], dtype=object)).tolist()
    ['KASPIY12', '', '9472012', '']
    """
    s = pd.Series(a, dtype="str").str.replace(r"^(\d+)\.0+$", r"\1", regex=True)
    s = s.str.upper().str.replace(r"[^A-Z0-9]", "", regex=True).fillna("")
    return s.where(~s.isin(["0", "NONE", "NAN"]), "").to_numpy(dtype=object)


def event_ids(kind: str, mmsi, start_us, suffix=None) -> np.ndarray:
    """Stable ids: ``<prefix>-<mmsi>-<start UTC>[-<suffix>]`` (suffix: port or partner)."""
    stamp = utc_stamps(start_us).to_numpy(zero_copy_only=False).astype(str)
    base = np.char.add(np.char.add(f"{ID_PREFIX[kind]}-", np.asarray(mmsi).astype(str)), "-")
    ids = np.char.add(base, stamp)
    if suffix is not None:
        ids = np.char.add(np.char.add(ids, "-"), np.asarray(suffix).astype(str))
    return ids.astype(object)


def event_frame(kind: str, n: int, **cols) -> pd.DataFrame:
    """An event table of ``n`` rows of one kind: given columns, the others empty, typed."""
    out = {}
    for c in EVENT_COLUMNS:
        v = cols.get(c)
        if c == "kind":
            out[c] = pd.array([kind] * n, dtype="str")
        elif c in ("start", "end"):
            out[c] = utc_times(v) if v is not None else utc_times(np.zeros(n, np.int64))
        elif c == "mmsi":
            out[c] = np.asarray(v, np.int64)
        elif c == "partner_mmsi":
            out[c] = pd.array(v if v is not None else [None] * n, dtype="Int64")
        elif c in _FLOATS:
            out[c] = np.asarray(v, float) if v is not None else np.full(n, np.nan)
        elif c == "identity_changed":
            out[c] = pd.array(v if v is not None else [None] * n, dtype="boolean")
        else:  # text
            out[c] = pd.array(v if v is not None else [None] * n, dtype="str")
    return pd.DataFrame(out)


#: Spark types of :data:`EVENT_COLUMNS` (a distributed engine gathers event rows).
EVENT_TYPES = {c: ("string" if c in ("event_id", "kind", "track_id", "port_id", "detail") else "long"
                   if c in ("mmsi", "partner_mmsi") else "timestamp" if c in ("start", "end") else "boolean"
                   if c == "identity_changed" else "double") for c in EVENT_COLUMNS}


def typed_events(rows: pd.DataFrame) -> pd.DataFrame:
    """Event rows gathered from elsewhere (one row per event, any mix of kinds, the columns
    of :data:`EVENT_COLUMNS` in any dtypes) in exactly the dtypes :func:`event_frame` gives."""
    cols = {c: rows[c].to_numpy(dtype=object) for c in EVENT_COLUMNS if c not in ("kind", "start", "end", "mmsi")}
    out = event_frame("gap", len(rows), **cols, mmsi=rows["mmsi"].to_numpy(np.int64), start=epoch_us(rows["start"]),
                      end=epoch_us(rows["end"]))
    out["kind"] = pd.array(rows["kind"].to_numpy(dtype=object), dtype="str")
    return out


def empty_events() -> pd.DataFrame:
    return event_frame("gap", 0, mmsi=np.zeros(0, np.int64))


def hours_between(t0_us, t1_us) -> np.ndarray:
    return (np.asarray(t1_us, np.int64) - np.asarray(t0_us, np.int64)) / US_PER_H


def fmt(x: np.ndarray, spec: str) -> np.ndarray:
    """Numbers as text (``spec`` a %-format); NaN as ''."""
    x = np.asarray(x, float)
    return np.where(np.isfinite(x), np.char.mod(spec, np.nan_to_num(x)), "")


def clause(text: np.ndarray, where: np.ndarray, words) -> np.ndarray:
    """Append ``"; " + words`` to ``text`` where ``where`` holds."""
    return np.where(where, np.char.add(np.char.add(text, "; "), words), text)
