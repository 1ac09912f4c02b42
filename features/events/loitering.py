"""``loitering`` events: runs of slow fixes away from ports (the voyage features' loitering
rule, ``loiter_speed_kn`` for at least ``loiter_min_h``, as an event with a place and times).

:func:`slow_intervals` is that rule as a function; ``voyage_features`` still has it inline
(same test: both ends under the speed, by SOG or by the step's implied speed, outside every
port's exit radius, not across a gap).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..config import Config
from ..gazetteer import Gazetteer
from ..geo import KM_PER_NM, haversine_km
from .frame import Fixes, event_frame, event_ids, fmt, hours_between


def slow_intervals(fx: Fixes, cfg: Config, max_kn: float | None = None) -> np.ndarray:
    """Length n - 1: interval i (fix i -> i + 1) is slow (< ``max_kn``, default
    ``loiter_speed_kn``) at both ends, away from ports, within one track and not a gap."""
    if fx.n < 2:
        return np.zeros(0, bool)
    max_kn = cfg.loiter_speed_kn if max_kn is None else max_kn
    dt_h = np.diff(fx.t_us) / 3.6e9
    iv_kn = fx.interval_kn
    spd = np.where(np.isfinite(fx.speed_kn), fx.speed_kn, np.inf)  # unknown speed is not "slow"
    return (fx.same_track_next() & (dt_h <= cfg.gap_hours)
            & (np.minimum(spd[:-1], iv_kn) < max_kn) & (np.minimum(spd[1:], iv_kn) < max_kn)
            & (fx.near_port[:-1] < 0) & (fx.near_port[1:] < 0))


def step_kn(fx: Fixes) -> np.ndarray:
    """Per fix: the faster of the speeds its two steps imply (kn; ``fx.interval_kn``, within
    its track; 0 for a track's lone fix).

    >>> from features.config import DEFAULT
    >>> from features.events.frame import fixes_of
    >>> t = pd.to_datetime(["2024-01-01 00:00", "2024-01-01 03:00", "2024-01-01 06:00"], utc=True)
    >>> pos = pd.DataFrame({"mmsi": 1, "track_no": 0, "timestamp": t, "lat": [40.0, 40.001, 40.5],
    ...                     "lon": 50.0, "sog": 9.8, "near_port": -1, "visit": -1})
    >>> step_kn(fixes_of(pos, DEFAULT)).round(2).tolist()  # waits 3 h, then sails on
    [0.02, 9.99, 9.99]
    """
    kn = np.where(fx.same_track_next(), fx.interval_kn, 0.0)
    return np.maximum(np.r_[0.0, kn], np.r_[kn, 0.0])


def runs(flags: np.ndarray, cut: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(first, last) interval index of each maximal run of True in ``flags``; ``cut``
    (length len(flags) - 1) ends a run between intervals k and k + 1 where it holds."""
    idx = np.flatnonzero(flags)
    if not len(idx):
        return idx, idx
    brk = np.diff(idx) != 1
    if cut is not None and len(cut):
        brk |= cut[idx[:-1]]
    brk = np.flatnonzero(brk)
    return idx[np.r_[0, brk + 1]], idx[np.r_[brk, len(idx) - 1]]


def loiter_runs(fx: Fixes, cfg: Config, min_h: float) -> tuple[np.ndarray, np.ndarray]:
    """(first fix, last fix) of each slow run lasting at least ``min_h``."""
    first, last = runs(slow_intervals(fx, cfg))
    a, b = first, last + 1
    keep = hours_between(fx.t_us[a], fx.t_us[b]) >= min_h
    return a[keep], b[keep]


def loiter_events(fx: Fixes, gaz: Gazetteer, cfg: Config) -> pd.DataFrame:
    """One row per loitering run of at least ``loiter_min_h``: first and last fix, nearest
    port to the first, and the drift (displacement) over the run."""
    a, b = loiter_runs(fx, cfg, cfg.loiter_min_h)
    t0, t1 = fx.t_us[a], fx.t_us[b]
    h = hours_between(t0, t1)
    drift = haversine_km(fx.lat[a], fx.lon[a], fx.lat[b], fx.lon[b])
    port, km = gaz.nearest(fx.lat[a], fx.lon[a])
    detail = np.char.add(np.char.add("slower than ", fmt(np.full(len(a), cfg.loiter_speed_kn), "%g")),
                         np.char.add(" kn away from ports; drifted ", np.char.add(fmt(drift, "%.1f"), " km")))
    with np.errstate(invalid="ignore", divide="ignore"):
        speed = drift / h / KM_PER_NM
    return event_frame(
        "loitering", len(a), event_id=event_ids("loitering", fx.mmsi[a], t0, fx.track_no[a]), mmsi=fx.mmsi[a],
        track_id=fx.track_ids(a), start=t0, end=t1, hours=h, lat=fx.lat[a], lon=fx.lon[a],
        end_lat=fx.lat[b], end_lon=fx.lon[b],
        port_id=np.where(port >= 0, gaz.ids[np.maximum(port, 0)], None) if gaz.n else None,
        km_to_port=km, implied_speed_kn=speed, detail=detail.astype(object))
