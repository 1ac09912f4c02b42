"""``port_visit`` events: one per visit of ``TrackResult.visits``, saying whether its entry and
exit were observed (the neighbouring fix outside the port and less than a gap away) or happened
across an AIS gap."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..gazetteer import Gazetteer
from ..geo import haversine_km
from .frame import Fixes, event_frame, event_ids


def visit_events(fx: Fixes, visits: pd.DataFrame, gaz: Gazetteer) -> pd.DataFrame:
    """``visits``: columns first_row, last_row (fix rows), port_idx, entry_observed,
    exit_observed. lat/lon: first fix in port; end_lat/end_lon: last; km_to_port: the first
    fix's distance from the port's coordinate."""
    if len(visits) == 0:
        return event_frame("port_visit", 0, mmsi=np.zeros(0, np.int64))
    a = visits["first_row"].to_numpy(np.int64)
    b = visits["last_row"].to_numpy(np.int64)
    p = visits["port_idx"].to_numpy(np.int64)
    entry = visits["entry_observed"].to_numpy(bool)
    exit_ = visits["exit_observed"].to_numpy(bool)
    t0, t1 = fx.t_us[a], fx.t_us[b]
    detail = np.char.add(np.where(entry, "entry observed", "entry not observed (across a gap or at the start)"),
                         np.where(exit_, ", exit observed", ", exit not observed (across a gap or at the end)"))
    return event_frame(
        "port_visit", len(a), event_id=event_ids("port_visit", fx.mmsi[a], t0, gaz.ids[p]), mmsi=fx.mmsi[a],
        track_id=fx.track_ids(a), start=t0, end=t1, hours=(t1 - t0) / 3.6e9,
        lat=fx.lat[a], lon=fx.lon[a], end_lat=fx.lat[b], end_lon=fx.lon[b], port_id=gaz.ids[p],
        km_to_port=haversine_km(fx.lat[a], fx.lon[a], gaz.lat[p], gaz.lon[p]), detail=detail.astype(object))
