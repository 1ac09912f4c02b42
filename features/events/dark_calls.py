"""``possible_dark_port_call`` events: per gap and per port where a call fits in the gap.

The voyage features' rule (:func:`features.families.dark_calls.call_spare_h`; the feature
keeps only the best port per voyage), for every gap and port: spare time = gap - sailing start -> port -> end
at the vessel's usual speed x ``route_factor`` - ``min_call_stay_h``; a call fits when the
spare time is positive. Gaps that start and end in one port, anchorages, and gaps whose ends
are two ships (``identity_changed``) are not calls. So that the list is leads, not every port a
long silence could hide: a gap is checked only when it is ``dark_call_min_gap_h`` to
``dark_call_max_gap_h`` long (longer is a hole in the data) with both ends within
``dark_call_region_km`` of a gazetteer port, and per gap at most ``dark_call_ports_per_gap``
ports are listed, sensitive first, then by spare time.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..config import Config
from ..gazetteer import Gazetteer
from ..geo import KM_PER_NM
from ..families.dark_calls import call_spare_h
from .frame import Fixes, event_frame, event_ids, fmt
from .gaps import Gaps, outside_dark_call_reach


def dark_call_events(fx: Fixes, g: Gaps, gaz: Gazetteer, cfg: Config) -> pd.DataFrame:
    """One row per (gap, port) with positive spare time. start/end/hours: the gap's;
    lat/lon and end_lat/end_lon: its ends; km_to_port: gap start to the port; detail: spare
    time, the speed assumed and whether the port is sensitive."""
    ok = checked_gaps(fx, g, gaz, cfg)
    rows = g.row[ok]
    if not len(rows) or gaz.n == 0:
        return event_frame("possible_dark_port_call", 0, mmsi=np.zeros(0, np.int64))
    a, b = rows, rows + 1
    speed = fx.usual_kn[fx.tid[a]]
    spare = call_spare_h(fx.lat[a], fx.lon[a], fx.lat[b], fx.lon[b], g.hours[ok], speed, gaz, cfg)
    gi, pi = best_ports(spare, gaz.sensitive, cfg.dark_call_ports_per_gap)
    a, b = a[gi], b[gi]
    km = gaz.distances(fx.lat[a], fx.lon[a])[np.arange(len(a)), pi] if len(a) else np.zeros(0)
    sens = np.where(gaz.sensitive[pi], " (sensitive port)", "")
    names = np.array([gaz.short_name(i) for i in range(gaz.n)], dtype=str)
    detail = np.char.add(np.char.add(np.char.add("a call at ", names[pi]), sens),
                         np.char.add(np.char.add(" fits: ", fmt(spare[gi, pi], "%.1f")),
                                     np.char.add(" h spare at ", np.char.add(fmt(speed[gi], "%.1f"), " kn"))))
    t0, t1 = fx.t_us[a], fx.t_us[b]
    return event_frame(
        "possible_dark_port_call", len(a), event_id=event_ids("possible_dark_port_call", fx.mmsi[a], t0, gaz.ids[pi]),
        mmsi=fx.mmsi[a], track_id=fx.track_ids(a), start=t0, end=t1, hours=g.hours[ok][gi],
        lat=fx.lat[a], lon=fx.lon[a], end_lat=fx.lat[b], end_lon=fx.lon[b], port_id=gaz.ids[pi], km_to_port=km,
        implied_speed_kn=g.km[ok][gi] / g.hours[ok][gi] / KM_PER_NM, identity_changed=np.zeros(len(a), bool),
        detail=detail.astype(object))


def checked_gaps(fx: Fixes, g: Gaps, gaz: Gazetteer, cfg: Config) -> np.ndarray:
    """Per gap: is it checked for dark calls (dark, not a stay in port, at least
    ``dark_call_min_gap_h`` long, and within reach: :func:`~.gaps.outside_dark_call_reach`)?"""
    hole, far = outside_dark_call_reach(fx, g, gaz, cfg)
    return g.dark & ~g.in_port & (g.hours >= cfg.dark_call_min_gap_h) & ~hole & ~far


def best_ports(spare: np.ndarray, sensitive: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(gap, port) index pairs of the at most ``k`` ports per gap where a call fits (spare > 0),
    sensitive ports first, then by spare time; in gap order, best first.

    >>> spare = np.array([[5.0, 9.0, -1.0, 2.0]])
    >>> best_ports(spare, np.array([False, False, False, True]), 2)
    (array([0, 0]), array([3, 1]))
    """
    score = np.where(spare > 0, spare + np.where(sensitive, 1e9, 0.0)[None, :], -np.inf)
    order = np.argsort(-score, axis=1, kind="stable")[:, :k]
    gi = np.repeat(np.arange(len(spare)), order.shape[1])
    pi = order.ravel()
    fits = np.isfinite(score[gi, pi])
    return gi[fits], pi[fits]
