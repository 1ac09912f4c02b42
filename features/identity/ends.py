"""Where and how each track begins and ends: the ground identity links stand on.

One row per track (length T, in track order): its MMSI and id, first and last fix (time,
position, whether in a port), the static data known at each end, the ship's usual speed, and
when its MMSI was last heard on any track.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..events.frame import Fixes, norm_text
from ..tracks import group_starts

#: Static columns compared across a link, as in :class:`~features.events.frame.Fixes.identity`.
STATIC = ("imo", "name", "callsign", "ship_type")


@dataclass
class TrackEnds:
    """Per track (length T): ``first``/``last`` fix rows into the :class:`Fixes`; ``t0_us``/
    ``t1_us`` their times (us since the epoch); ``lat0, lon0, lat1, lon1`` (deg); ``port0``/
    ``port1`` whether the fix lies in a port's exit radius; ``static0``/``static1``: per
    :data:`STATIC` column, the normalised text at each end ('' unknown); ``mmsi_last_us``:
    the last fix of any track of the same MMSI; ``mmsi_first_us``: its first."""

    mmsi: np.ndarray
    track_id: np.ndarray
    first: np.ndarray
    last: np.ndarray
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
        col = fx.identity.get(c)
        s0[c] = norm_text(col[first]) if col is not None else np.full(len(first), "", object)
        s1[c] = norm_text(col[last]) if col is not None else np.full(len(first), "", object)
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
