"""The shared index every feature family works on: fixes, the intervals between them, and
which voyage each interval belongs to.

Fixes are sorted by (mmsi, track_no, time). Interval ``i`` joins fix ``i`` and fix ``i + 1``;
it is *valid* when both fixes are on one track and not inside one port visit. A voyage is a
maximal run of valid intervals with one (track, voyage number). Families aggregate per
voyage with ``reduceat`` over these contiguous runs (:meth:`VoyageIndex.vsum`), never with a
Python loop over fixes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..config import Config
from ..geo import KM_PER_NM, haversine_km
from ..tracks import Seconds, epoch_us, group_starts


@dataclass
class VoyageIndex:
    pos: pd.DataFrame          # the fixes (text columns are read from here)
    # --- per fix (n) ---------------------------------------------------------------------
    mmsi: np.ndarray
    track_no: np.ndarray
    t: Seconds                 # seconds since the epoch
    lat: np.ndarray
    lon: np.ndarray
    sog: np.ndarray            # kn, NaN when not reported
    cog: np.ndarray            # deg, NaN when not reported
    near_port: np.ndarray      # port index within reach, -1 at sea
    port_idx: np.ndarray
    visit: np.ndarray          # port visit number, -1 outside visits
    tstart: np.ndarray         # bool: first fix of a track
    tid: np.ndarray            # track number over all MMSIs (0..n_tracks-1)
    n_tracks: int
    # --- per interval (n - 1) ------------------------------------------------------------
    dt: np.ndarray             # s
    d: np.ndarray              # km
    step_kn: np.ndarray        # implied speed, kn (inf/NaN for zero time steps)
    same_track: np.ndarray
    valid: np.ndarray
    gap: np.ndarray            # valid and longer than the gap threshold
    no_gap: np.ndarray         # valid and not a gap
    gidx: np.ndarray           # voyage of each interval (meaningful where valid)
    # --- per voyage (nv) -----------------------------------------------------------------
    nv: int
    gst: np.ndarray            # first interval
    gend: np.ndarray           # last valid interval
    row_first: np.ndarray      # first fix
    row_last: np.ndarray       # last fix
    vtid: np.ndarray           # track
    origin: np.ndarray         # port index of the origin visit, -1 none
    dest: np.ndarray           # port index of the destination visit, -1 none
    start_s: np.ndarray
    end_s: np.ndarray
    duration_s: np.ndarray
    # invalid intervals after the first voyage start, and their voyage (see vsum)
    inval: np.ndarray
    inval_v: np.ndarray
    # --- gaps ----------------------------------------------------------------------------
    gi: np.ndarray             # interval index of each gap
    gv: np.ndarray             # its voyage
    g_dt: np.ndarray           # its length, s
    has_lg: np.ndarray         # per voyage: it has a gap
    lgi: np.ndarray            # interval of each such voyage's longest gap (first if tied)

    @property
    def la(self) -> np.ndarray:
        """Fix before each longest gap."""
        return self.lgi

    @property
    def lb(self) -> np.ndarray:
        """Fix after each longest gap."""
        return self.lgi + 1

    def vsum(self, x) -> np.ndarray:
        """Per voyage, the sum of a finite per-interval value over its valid intervals.

        reduceat over [gst[j], gst[j+1]) also sweeps the few invalid intervals (port stays,
        track starts) that follow voyage j; they are zeroed in a copy first (a scatter, far
        cheaper than masking millions of valid ones). Subtracting them afterwards left a
        rounding residue that depended on the neighbouring vessel's values (1.8e-15 kn of
        mean speed on a moored ship in one engine, 0 in the other): the sums are exact now,
        whatever else shares the array."""
        x = np.broadcast_to(np.asarray(x, float), self.valid.shape)
        if len(self.inval):
            x = x.copy()
            x[self.inval] = 0.0
        return np.add.reduceat(x, self.gst)

    def vmax(self, x, fill=-np.inf) -> np.ndarray:
        """Per voyage, the maximum of a per-interval value over its valid intervals."""
        return np.maximum.reduceat(np.where(self.valid, x, fill), self.gst)

    def put(self, vals, fill=np.nan, dtype=float) -> np.ndarray:
        """Values per longest gap -> per voyage, ``fill`` for voyages without a gap."""
        o = np.full(self.nv, fill, dtype=dtype)
        o[self.has_lg] = vals
        return o

    @classmethod
    def build(cls, pos: pd.DataFrame, cfg: Config) -> VoyageIndex | None:
        """The index of tracked fixes (:mod:`features.pipeline`), or None without a voyage."""
        n = len(pos)
        if n < 2:
            return None
        f = _fixes(pos)
        iv = _intervals(pos, f, cfg)
        v = _voyages(f, iv)
        if v is None:
            return None
        return cls(pos=pos, **f, **iv, **v, **_gaps(iv, v))


def _fixes(pos: pd.DataFrame) -> dict:
    n = len(pos)
    mmsi = pos["mmsi"].to_numpy(np.int64)
    track_no = pos["track_no"].to_numpy()
    tstart = group_starts(mmsi, track_no)
    tid = np.cumsum(tstart) - 1
    return {"mmsi": mmsi, "track_no": track_no, "t": Seconds(epoch_us(pos["timestamp"])),
            "lat": pos["lat"].to_numpy(float), "lon": pos["lon"].to_numpy(float),
            "sog": pos["sog"].to_numpy(float) if "sog" in pos else np.full(n, np.nan),
            "cog": pos["cog"].to_numpy(float) if "cog" in pos else np.full(n, np.nan),
            "near_port": pos["near_port"].to_numpy(), "port_idx": pos["port_idx"].to_numpy(),
            "visit": pos["visit"].to_numpy(), "_voyage_no": pos["voyage_no"].to_numpy(),
            "tstart": tstart, "tid": tid, "n_tracks": int(tid[-1]) + 1}


def _intervals(pos: pd.DataFrame, f: dict, cfg: Config) -> dict:
    t_us, lat, lon, visit = f["t"].t_us, f["lat"], f["lon"], f["visit"]
    n = len(t_us)
    dt = np.empty(n - 1)
    np.subtract(t_us[1:], t_us[:-1], out=dt)  # one float array, no int64 intermediate
    dt *= 1e-6
    d = (pos["step_km"].to_numpy(float)[1:] if "step_km" in pos
         else haversine_km(lat[:-1], lon[:-1], lat[1:], lon[1:]))
    same_track = ~f["tstart"][1:]
    valid = same_track & ~((visit[:-1] >= 0) & (visit[:-1] == visit[1:]))
    gap = valid & (dt > cfg.gap_hours * 3600.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        step_kn = d / dt * (3600.0 / KM_PER_NM)
    return {"dt": dt, "d": d, "step_kn": step_kn, "same_track": same_track, "valid": valid, "gap": gap,
            "no_gap": valid & ~gap}


def _voyages(f: dict, iv: dict) -> dict | None:
    valid, tid_iv, voyage_no = iv["valid"], f["tid"][1:], f.pop("_voyage_no")
    n1 = len(valid)
    vkey_change = np.ones(n1, bool)
    vkey_change[1:] = ~valid[:-1] | (tid_iv[1:] != tid_iv[:-1]) | (voyage_no[2:] != voyage_no[1:-1])
    vfirst = valid & vkey_change
    gst = np.flatnonzero(vfirst)
    nv = len(gst)
    if nv == 0:
        return None
    gidx = np.cumsum(vfirst) - 1
    gend = np.maximum.reduceat(np.where(valid, np.arange(n1), -1), gst)
    row_first, row_last = gst, gend + 1
    visit, port_idx, t = f["visit"], f["port_idx"], f["t"]
    inval = np.flatnonzero(~valid)
    inval = inval[inval >= gst[0]]
    start_s, end_s = t[row_first], t[row_last]
    return {"gidx": gidx, "nv": nv, "gst": gst, "gend": gend, "row_first": row_first, "row_last": row_last,
            "vtid": f["tid"][row_first],
            "origin": np.where(visit[row_first] >= 0, port_idx[row_first], -1),
            "dest": np.where(visit[row_last] >= 0, port_idx[row_last], -1),
            "start_s": start_s, "end_s": end_s, "duration_s": end_s - start_s,
            "inval": inval, "inval_v": gidx[inval]}


def _gaps(iv: dict, v: dict) -> dict:
    """Gaps are few: everything about them runs on the gap intervals only."""
    gi = np.flatnonzero(iv["gap"])
    gv = v["gidx"][gi]
    g_dt = iv["dt"][gi]
    # The longest gap of each voyage (the first, if two are equally long).
    order = np.lexsort((gi, -g_dt, gv))
    pick = order[group_starts(gv[order])] if len(gi) else np.zeros(0, np.int64)
    has_lg = np.zeros(v["nv"], bool)
    has_lg[gv[pick]] = True
    return {"gi": gi, "gv": gv, "g_dt": g_dt, "has_lg": has_lg, "lgi": gi[pick]}
