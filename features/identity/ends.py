"""Where and how each track begins and ends: the ground identity links stand on.

One row per track (length T, in track order): its MMSI and id, first and last fix (time,
position, whether in a port), the static data known at each end, the ship's usual speed, and
when its MMSI was last heard on any track.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..events.frame import Fixes, norm_text
from ..tracks import group_starts

#: Static columns compared across a link (:meth:`~features.events.frame.Fixes.static_at`).
STATIC = ("imo", "name", "callsign", "ship_type")


#: One row per track as :func:`ends_frame` tables it (a distributed engine computes it per
#: MMSI bucket and gathers the small table): name -> Spark SQL type.
ENDS_TYPES = {"mmsi": "long", "track_id": "string", "t0_us": "long", "t1_us": "long", "lat0": "double",
              "lon0": "double", "lat1": "double", "lon1": "double", "port0": "boolean", "port1": "boolean",
              "usual_kn": "double", "mmsi_last_us": "long", "mmsi_first_us": "long",
              **{f"{c}{k}": "string" for c in STATIC for k in (0, 1)}}


@dataclass
class TrackEnds:
    """Per track (length T): ``first``/``last`` fix rows into the :class:`Fixes`; ``t0_us``/
    ``t1_us`` their times (us since the epoch); ``lat0, lon0, lat1, lon1`` (deg); ``port0``/
    ``port1`` whether the fix lies in a port's exit radius; ``static0``/``static1``: per
    :data:`STATIC` column, the normalised text at each end ('' unknown); ``mmsi_last_us``:
    the last fix of any track of the same MMSI; ``mmsi_first_us``: its first."""

    mmsi: np.ndarray
    track_id: np.ndarray
    first: np.ndarray | None   # rows into the Fixes (None when rebuilt from a table)
    last: np.ndarray | None
    t0_us: np.ndarray
    t1_us: np.ndarray
    lat0: np.ndarray
    lon0: np.ndarray
    lat1: np.ndarray
    lon1: np.ndarray
    port0: np.ndarray
    port1: np.ndarray
    usual_kn: np.ndarray
    static0: dict[str, np.ndarray]
    static1: dict[str, np.ndarray]
    mmsi_last_us: np.ndarray
    mmsi_first_us: np.ndarray

    @property
    def n(self) -> int:
        return len(self.mmsi)

    @classmethod
    def from_frame(cls, df: pd.DataFrame) -> TrackEnds:
        """From :func:`ends_frame`'s table, whatever its row order (sorted here by MMSI and
        track number, the order of the tracked fixes)."""
        no = df["track_id"].astype(str).str.rsplit("-", n=1).str[1].astype(np.int64).to_numpy()
        df = df.iloc[np.lexsort((no, df["mmsi"].to_numpy(np.int64)))]
        col = {c: df[c].to_numpy() for c in df.columns}
        text = {c: pd.Series(col[c], dtype="str").fillna("").to_numpy(dtype=object) for c in col if c[:-1] in STATIC}
        return cls(col["mmsi"].astype(np.int64), col["track_id"].astype(object), None, None,
                   *(col[c].astype(np.int64) for c in ("t0_us", "t1_us")),
                   *(col[c].astype(float) for c in ("lat0", "lon0", "lat1", "lon1")),
                   col["port0"].astype(bool), col["port1"].astype(bool), col["usual_kn"].astype(float),
                   {c: text[f"{c}0"] for c in STATIC}, {c: text[f"{c}1"] for c in STATIC},
                   col["mmsi_last_us"].astype(np.int64), col["mmsi_first_us"].astype(np.int64))


def ends_frame(e: TrackEnds) -> pd.DataFrame:
    """The :class:`TrackEnds` as a table (:data:`ENDS_TYPES`), one row per track."""
    cols = {"mmsi": e.mmsi, "track_id": e.track_id, "t0_us": e.t0_us, "t1_us": e.t1_us, "lat0": e.lat0,
            "lon0": e.lon0, "lat1": e.lat1, "lon1": e.lon1, "port0": e.port0, "port1": e.port1,
            "usual_kn": e.usual_kn, "mmsi_last_us": e.mmsi_last_us, "mmsi_first_us": e.mmsi_first_us}
    cols.update({f"{c}{k}": (e.static0 if k == 0 else e.static1)[c] for c in STATIC for k in (0, 1)})
    return pd.DataFrame(cols)[list(ENDS_TYPES)]


def track_ends(fx: Fixes) -> TrackEnds:
    """The :class:`TrackEnds` of tracked fixes (sorted by mmsi, track, time)."""
    first = np.flatnonzero(group_starts(fx.tid)) if fx.n else np.zeros(0, np.int64)
    last = np.append(first[1:], fx.n) - 1 if fx.n else np.zeros(0, np.int64)
    mmsi = fx.mmsi[first]
    t1 = fx.t_us[last]
    # Tracks are grouped by MMSI: the MMSI's last fix is the max over its run of tracks.
    run = np.cumsum(group_starts(mmsi)) - 1 if len(mmsi) else np.zeros(0, np.int64)
    heard = np.zeros(run[-1] + 1 if len(run) else 0, np.int64)
    np.maximum.at(heard, run, t1)
    since = np.full(len(heard), np.iinfo(np.int64).max)
    np.minimum.at(since, run, fx.t_us[first])
    s0, s1 = {}, {}
    for c in STATIC:
        at0, at1 = fx.static_at(c, first), fx.static_at(c, last)
        s0[c] = norm_text(at0) if at0 is not None else np.full(len(first), "", object)
        s1[c] = norm_text(at1) if at1 is not None else np.full(len(first), "", object)
    return TrackEnds(mmsi, fx.track_ids(first), first, last, fx.t_us[first], t1, fx.lat[first], fx.lon[first],
                     fx.lat[last], fx.lon[last], fx.near_port[first] >= 0, fx.near_port[last] >= 0,
                     fx.usual_kn, s0, s1, heard[run], since[run])


def valid_imo(imo: np.ndarray) -> np.ndarray:
    """Normalised IMO texts that are seven digits with a good check digit.

    >>> valid_imo(np.array(["9074729", "9074728", "", "12345"], dtype=object)).tolist()
    [True, False, False, False]
    """
    s = np.asarray(imo, dtype=object).astype(str)
    ok = np.char.str_len(s) == 7
    ok &= np.char.isdigit(s)
    if not ok.any():
        return ok
    d = np.zeros((len(s), 7), np.int64)
    d[ok] = np.frombuffer("".join(s[ok]).encode(), np.uint8).reshape(-1, 7) - ord("0")
    check = (d[:, :6] * np.arange(7, 1, -1)).sum(axis=1) % 10
    return ok & (check == d[:, 6])
