"""Ordinary explanations of two ships' silences that a meeting at sea must beat.

**A shore station's outage.** A station that goes down silences every ship in its range at
once, at sea, at anchor and alongside; two ships that meet are alone in their silence. So a
pair of rendezvous episodes is no meeting when a third ship went dark and came back in step with
either side (start and end differences summed, within ``rendezvous_outage_step_h``), from within
``rendezvous_outage_km`` of where that side went dark. The third ship's silence counts whatever
it was: a dark episode of its own, a quiet stay in a port, or a silence longer than
``rendezvous_max_dark_h`` (neither is an episode). :func:`silences` gives those as witness rows
of the episode table, so an engine that pools the episodes of many vessels' groups pools the
witnesses with them.

**A shared port stay.** Two ships silent near a port could both have been in it, alongside or
at its anchorage, unheard (:func:`shared_call_h`): a pair is no meeting when a stay together in
one port fits longer, by more than ``rendezvous_port_stay_slack_h``, than the best meeting point
at sea.
"""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd

from ..config import Config
from ..errors import ConfigError
from ..gazetteer import Gazetteer
from ..geo import KM_PER_DEG, haversine_km
from .frame import Fixes
from .gaps import Gaps


def silences(fx: Fixes, g: Gaps, cfg: Config, skip: np.ndarray) -> pd.DataFrame:
    """Witness rows (``pairable`` False) of the episode table: every gap of one ship (``g.dark``)
    of at least ``rendezvous_min_dark_h``, in port or at sea, of any length, but those after
    the fixes ``skip`` (gaps that are a dark episode on their own, a witness as that); the fixes
    before and after it as its ends, dark, no reach speed."""
    long = g.dark & (g.hours >= cfg.rendezvous_min_dark_h) & ~np.isin(g.row, skip)
    row = g.row[long]
    return pd.DataFrame({"mmsi": fx.mmsi[row], "track_no": fx.track_no[row], "t0": fx.t_us[row], "t1": fx.t_us[row + 1],
                         "lat0": fx.lat[row], "lon0": fx.lon[row], "lat1": fx.lat[row + 1], "lon1": fx.lon[row + 1],
                         "dark_h": g.hours[long], "speed_kmh": 0.0, "dark": True, "pairable": False})


def in_outage(ep: pd.DataFrame, i: np.ndarray, j: np.ndarray, witnesses: pd.DataFrame, cfg: Config) -> np.ndarray:
    """Per candidate pair (rows ``i``, ``j`` of the pairable episodes ``ep``): did a third ship's
    silence (a dark row of ``witnesses``: mmsi, t0, t1 in us, lat0/lon0 where it went dark) begin
    and end in step with a dark side, near where that side went dark?

    >>> ep = pd.DataFrame({"mmsi": [1, 2], "t0": [0, 0], "t1": [9_000_000_000] * 2,
    ...                    "lat0": [42.0, 42.1], "lon0": [50.5] * 2, "dark": [True] * 2})
    >>> third = pd.DataFrame({"mmsi": [3], "t0": [1_800_000_000], "t1": [9_000_000_000],
    ...                       "lat0": [42.2], "lon0": [50.5], "dark": [True]})
    >>> i, j = np.array([0]), np.array([1])
    >>> in_outage(ep, i, j, pd.concat([ep, third]), Config()).tolist()  # 3 went dark 0.5 h later
    [True]
    >>> in_outage(ep, i, j, ep, Config()).tolist()  # 1 and 2 alone in their silence
    [False]
    """
    dark = ep["dark"].to_numpy(bool)
    side = np.unique(np.r_[i, j][np.r_[dark[i], dark[j]]])
    n_other, some_other = _witnessed(ep.iloc[side], witnesses[witnesses["dark"].to_numpy(bool)], cfg)
    n = np.zeros(len(ep), np.int64)
    w = np.full(len(ep), -1, np.int64)
    n[side], w[side] = n_other, some_other
    m = ep["mmsi"].to_numpy(np.int64)
    # A side's witness may be its partner (the pair in step with itself): it takes another.
    return (n[i] >= 2) | ((n[i] == 1) & (w[i] != m[j])) | (n[j] >= 2) | ((n[j] == 1) & (w[j] != m[i]))


def _witnessed(sides: pd.DataFrame, wit: pd.DataFrame, cfg: Config) -> tuple[np.ndarray, np.ndarray]:
    """Per side: how many other vessels' silences are in step with it and near where it went
    dark, and one of those vessels (-1 for none). Silences are filed in cells of (start, end,
    latitude, longitude), one step and ``rendezvous_outage_km`` wide: a side is compared with
    those of its own cell and the cells around it only (a month of patchy reception has ~10^5
    silences, and satellite passes put most of them in step with some side somewhere)."""
    n, some = np.zeros(len(sides), np.int64), np.full(len(sides), -1, np.int64)
    step_us = int(cfg.rendezvous_outage_step_h * 3.6e9)
    if step_us <= 0 or not len(sides) or not len(wit):
        return n, some
    deg = cfg.rendezvous_outage_km / KM_PER_DEG
    # Longitude cells as wide in km as latitude cells at the data's highest latitude.
    lon_deg = deg / max(np.cos(np.radians(max(np.abs(wit["lat0"]).max(), np.abs(sides["lat0"]).max()))), 0.05)
    both = pd.concat([wit[["t0", "t1", "lat0", "lon0"]], sides[["t0", "t1", "lat0", "lon0"]]], ignore_index=True)
    width = {"t0": step_us, "t1": step_us, "lat0": deg, "lon0": lon_deg}
    cells = [np.floor(both[c].to_numpy(float) / w) for c, w in width.items()]
    cells = [(c - c.min() + 1).astype(np.int64) for c in cells]  # >= 1: a neighbour of -1 stays >= 0
    dims = [int(c.max()) + 2 for c in cells]
    if np.prod(np.array(dims, float)) >= 2**62:
        raise ConfigError(f"rendezvous_outage_km {cfg.rendezvous_outage_km:g} and rendezvous_outage_step_h "
                          f"{cfg.rendezvous_outage_step_h:g} cut this data into too many cells ({dims})")

    def key(at: slice, d=(0, 0, 0, 0)) -> np.ndarray:  # the four cells (plus offsets d) as one int64
        return ((((cells[0][at] + d[0]) * dims[1] + cells[1][at] + d[1]) * dims[2] + cells[2][at] + d[2]) * dims[3]
                + cells[3][at] + d[3])
    nw = len(wit)
    wkey = key(slice(0, nw))
    order = np.argsort(wkey, kind="stable")
    wkey = wkey[order]
    wt0, wt1, wm = (wit[c].to_numpy(np.int64)[order] for c in ("t0", "t1", "mmsi"))
    wlat, wlon = (wit[c].to_numpy(float)[order] for c in ("lat0", "lon0"))
    st0, st1, sm = (sides[c].to_numpy(np.int64) for c in ("t0", "t1", "mmsi"))
    slat, slon = (sides[c].to_numpy(float) for c in ("lat0", "lon0"))
    s_all, k_all = [], []
    for d in itertools.product((-1, 0, 1), repeat=4):
        q = key(slice(nw, None), d)
        lo = np.searchsorted(wkey, q, "left")
        cnt = np.searchsorted(wkey, q, "right") - lo
        s = np.repeat(np.arange(len(sides)), cnt)
        s_all.append(s)
        k_all.append(lo[s] + np.arange(cnt.sum()) - np.repeat(np.cumsum(cnt) - cnt, cnt))
    s, k = np.concatenate(s_all), np.concatenate(k_all)
    ok = (wm[k] != sm[s]) & (np.abs(wt0[k] - st0[s]) + np.abs(wt1[k] - st1[s]) <= step_us)
    s, k = s[ok], k[ok]
    ok = haversine_km(wlat[k], wlon[k], slat[s], slon[s]) <= cfg.rendezvous_outage_km
    found = pd.DataFrame({"side": s[ok], "mmsi": wm[k[ok]]}).drop_duplicates().groupby("side")["mmsi"]
    count, one = found.size(), found.min()
    n[count.index], some[one.index] = count.to_numpy(), one.to_numpy()
    return n, some


def shared_call_h(ep: pd.DataFrame, i: np.ndarray, j: np.ndarray, gaz: Gazetteer) -> tuple[np.ndarray, np.ndarray]:
    """Per pair of episodes (rows ``i``, ``j`` of ``ep``): the longest both could have spent in
    one gazetteer port together (h; -inf without ports), and that port (its gazetteer row, -1
    for none): per port, each side's time to spare there after sailing from where it went quiet
    to the port's edge and from there to where it was seen again (the ellipse rule of the
    meeting, with the port's radius for a point), the smaller of the two; the best port.

    >>> from features.gazetteer import load_gazetteer
    >>> amirabad = load_gazetteer().ports.set_index("port_id").loc["IRBAM", ["lat", "lon"]]
    >>> ep = pd.DataFrame({"t0": [0, 0], "t1": [int(30 * 3.6e9)] * 2, "lat0": [amirabad.lat + 0.3] * 2,
    ...                    "lon0": [amirabad.lon] * 2, "lat1": [amirabad.lat + 0.3] * 2,
    ...                    "lon1": [amirabad.lon] * 2, "speed_kmh": [18.5, 18.5]})
    >>> hours, port = shared_call_h(ep, np.array([0]), np.array([1]), load_gazetteer())
    >>> round(float(hours[0]), 1), str(load_gazetteer().ids[port[0]])  # 29 km to its edge and back at 10 kn: 3.2 of 30 h
    (26.8, 'IRBAM')
    """
    out, best = np.full(len(i), -np.inf), np.full(len(i), -1, np.int64)
    if not gaz.n or not len(i):
        return out, best
    sides, at = np.unique(np.r_[i, j], return_inverse=True)  # each side once; i, j as rows of sides
    si, sj = at[:len(i)], at[len(i):]
    s = ep.iloc[sides]
    hours = (s["t1"].to_numpy(np.int64) - s["t0"].to_numpy(np.int64)) / 3.6e9
    lat0, lon0, lat1, lon1 = (s[c].to_numpy(float) for c in ("lat0", "lon0", "lat1", "lon1"))
    v = s["speed_kmh"].to_numpy(float)
    for k, (lat, lon, r) in enumerate(zip(gaz.lat, gaz.lon, gaz.radius_km)):  # tens of ports
        sail_km = np.maximum(haversine_km(lat0, lon0, lat, lon) - r, 0) + np.maximum(haversine_km(lat, lon, lat1, lon1) - r, 0)
        spare = hours - sail_km / v
        both = np.minimum(spare[si], spare[sj])
        best = np.where(both > out, k, best)
        out = np.maximum(out, both)
    return out, best
