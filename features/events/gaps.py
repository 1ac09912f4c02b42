"""``gap`` events: every interval of a track longer than ``gap_hours``, with where it starts and
ends, the speed implied across it, the reception context, and whether the two ends are two
ships on one MMSI (``identity_changed``: not a dark event, left out of dark counts)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..config import Config
from ..coverage import (CoverageGrid, TrafficSums, cell_day_coverage, gap_rate_from_sums, neighbours_during_gaps,
                        neighbours_from_presences)
from ..gazetteer import Gazetteer
from ..geo import KM_PER_NM, haversine_km
from .frame import Fixes, clause, event_frame, event_ids, fmt, hours_between, norm_text


@dataclass
class Gaps:
    """The gaps, one entry per gap (length m): ``row`` is the fix before the gap (the one
    after is ``row + 1``); ``in_port``: both ends in one port visit (a quiet stay, not a
    voyage's gap); ``identity_changed``: the ends carry different names, call signs or IMOs."""

    row: np.ndarray
    hours: np.ndarray
    km: np.ndarray
    in_port: np.ndarray
    identity_changed: np.ndarray
    coverage_share: np.ndarray | None = None       # see :func:`add_reception`
    neighbours_reporting: np.ndarray | None = None

    @property
    def dark(self) -> np.ndarray:
        """Gaps that count as the vessel going dark: at sea (or across ports) and one ship."""
        return ~self.identity_changed


def identity_changed(fx: Fixes, before: np.ndarray) -> np.ndarray:
    """Per gap (fix ``before`` -> ``before + 1``): a name, call sign or IMO known at both ends
    and different. One MMSI, two ships: the second ship did not "reappear" from the dark."""
    out = np.zeros(len(before), bool)
    for col in ("name", "callsign", "imo"):
        if col not in fx.identity or not len(before):
            continue
        a = norm_text(fx.static_at(col, before))
        b = norm_text(fx.static_at(col, before + 1))
        out |= (a != "") & (b != "") & (a != b)
    return out


def find_gaps(fx: Fixes, cfg: Config) -> Gaps:
    """Intervals within one track longer than ``gap_hours``."""
    if fx.n < 2:
        z = np.zeros(0)
        return Gaps(z.astype(np.int64), z, z, z.astype(bool), z.astype(bool))
    dt_us = np.diff(fx.t_us)
    row = np.flatnonzero(fx.same_track_next() & (dt_us > cfg.gap_hours * 3_600_000_000))
    km = haversine_km(fx.lat[row], fx.lon[row], fx.lat[row + 1], fx.lon[row + 1])
    in_port = (fx.visit[row] >= 0) & (fx.visit[row] == fx.visit[row + 1])
    return Gaps(row, dt_us[row] / 3.6e9, km, in_port, identity_changed(fx, row))


def outside_dark_call_reach(fx: Fixes, g: Gaps, gaz: Gazetteer, cfg: Config) -> tuple[np.ndarray, np.ndarray]:
    """Per gap of a ship going dark at sea, why no dark port call is checked in it: (hole,
    far): longer than ``dark_call_max_gap_h`` (a hole in the data), or an end more than
    ``dark_call_region_km`` from every gazetteer port. Other gaps: both False."""
    dark = g.dark & ~g.in_port
    hole = dark & (g.hours > cfg.dark_call_max_gap_h)
    far = np.zeros(len(g.row), bool)
    if dark.any() and gaz.n:
        a = g.row[dark]
        far[dark] = ((gaz.nearest(fx.lat[a], fx.lon[a])[1] > cfg.dark_call_region_km)
                     | (gaz.nearest(fx.lat[a + 1], fx.lon[a + 1])[1] > cfg.dark_call_region_km))
    return hole, far


def add_reception(fx: Fixes, g: Gaps, cfg: Config, traffic: TrafficSums | None = None) -> Gaps:
    """Fill the gaps' reception context from all vessels' traffic: ``fx`` itself, or
    ``traffic`` summed over every vessel when ``fx`` holds only some of them (the same numbers).
    ``coverage_share``: share of all tracks' intervals starting in the gap's start cell
    (``coverage_cell_deg``) that UTC day that are not gaps (low = a reception hole);
    ``neighbours_reporting``: other vessels reporting per hour near the start while the gap
    lasted (0 while others are silent too: a hole, or an empty sea; NaN when the gap spans no
    whole ``coverage_bucket_h``)."""
    a = g.row
    g.coverage_share = np.full(len(a), np.nan)
    g.neighbours_reporting = np.full(len(a), np.nan)
    if len(a):
        t0, t1, lat, lon = fx.t_us[a], fx.t_us[a + 1], fx.lat[a], fx.lon[a]
        if traffic is None:
            _, g.neighbours_reporting = neighbours_during_gaps(fx.tid, fx.t_us, fx.lat, fx.lon, t0, t1, lat, lon, cfg)
            rate, _ = cell_day_coverage(fx.tid, fx.t_us, fx.lat, fx.lon, t0, lat, lon, cfg)
        else:
            _, g.neighbours_reporting = neighbours_from_presences(traffic.presences, t0, t1, lat, lon, cfg)
            rate = gap_rate_from_sums(traffic.cell_days, t0, lat, lon, cfg)
        g.coverage_share = 1.0 - rate
    return g


def gap_events(fx: Fixes, g: Gaps, gaz: Gazetteer, cfg: Config,
               coverage: CoverageGrid | None = None) -> pd.DataFrame:
    """One ``gap`` row per gap (``g`` with :func:`add_reception` applied)."""
    a, b = g.row, g.row + 1
    t0, t1 = fx.t_us[a], fx.t_us[b]
    per_h, share = g.neighbours_reporting, g.coverage_share
    port, km = gaz.nearest(fx.lat[a], fx.lon[a])
    with np.errstate(invalid="ignore", divide="ignore"):
        speed = g.km / g.hours / KM_PER_NM
    ref = coverage.lookup(fx.lat[a], fx.lon[a])[0] if coverage is not None and len(coverage.table) else None
    detail = _gap_detail(fx, g, gaz, port, per_h, share, ref)
    # Gaps the dark-call check leaves out, and why.
    hole, far = outside_dark_call_reach(fx, g, gaz, cfg)
    detail = clause(detail, hole, f"longer than {cfg.dark_call_max_gap_h / 24:g} days: a hole in the data, "
                                  "not a dark port call")
    detail = clause(detail, far & ~hole, f"more than {cfg.dark_call_region_km:g} km from every port of the "
                                         "gazetteer: no dark port call checked")
    detail = detail.astype(object)
    return event_frame(
        "gap", len(a), event_id=event_ids("gap", fx.mmsi[a], t0, fx.track_no[a]), mmsi=fx.mmsi[a],
        track_id=fx.track_ids(a), start=t0, end=t1, hours=hours_between(t0, t1),
        lat=fx.lat[a], lon=fx.lon[a], end_lat=fx.lat[b], end_lon=fx.lon[b],
        port_id=np.where(port >= 0, gaz.ids[np.maximum(port, 0)], None) if gaz.n else None,
        km_to_port=km, implied_speed_kn=speed, coverage_share=share, neighbours_reporting=per_h,
        identity_changed=g.identity_changed, detail=detail)


def _gap_detail(fx: Fixes, g: Gaps, gaz: Gazetteer, port, per_h, share, ref) -> np.ndarray:
    """Plain words per gap: length and displacement, where, and how to read the reception."""
    m = len(g.row)
    text = np.char.add(np.char.add(np.char.add("AIS off ", fmt(g.hours, "%.1f")), " h, "),
                       np.char.add(fmt(g.km, "%.0f"), " km apart"))
    short = np.array([gaz.short_name(i) for i in range(gaz.n)] + [""], dtype=str)
    text = clause(text, g.in_port & (port >= 0), np.char.add("during a stay at ", short[port]))
    who = (np.char.add(np.char.add(" (", np.asarray(fx.static_at("name", g.row), dtype=str)),
                       np.char.add(" -> ", np.char.add(np.asarray(fx.static_at("name", g.row + 1), dtype=str), ")")))
           if "name" in fx.identity and m else np.full(m, ""))
    text = clause(text, g.identity_changed, np.char.add(np.char.add("two ships on one MMSI", who), ": not a dark event"))
    text = clause(text, per_h > 0, np.char.add(np.char.add("a switch-off: ", fmt(per_h, "%.1f")),
                                                 " other vessels/h kept reporting nearby"))
    text = clause(text, per_h == 0, "no other vessel reported nearby either: a reception hole, or an empty sea")
    if ref is not None:
        text = clause(text, np.isfinite(ref), np.char.add("reference cell gap rate ", fmt(ref, "%.2f")))
    return text

