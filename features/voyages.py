"""Port visits and voyages over fixes sorted by (track, time).

A port visit is a run of consecutive fixes of a track inside a port's exit radius
(``radius_km * port_exit_factor``) that reaches the entry radius and either stops there
(speed under ``stop_speed_kn``) or stays ``min_port_stay_h``. Its entry (exit) is "observed"
when the fix before (after) it is outside the port and less than a gap away; a visit seen
only inside the port, or entered across a gap, is flagged by those two columns.

A voyage is the stretch of a track between consecutive port visits: from the last fix of one
visit to the first fix of the next, so a voyage that was entirely dark (one fix in port, the
next in another port) still exists and carries its gap. Stretches before the first and after
the last visit are voyages with no origin or no destination.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .config import Config
from .gazetteer import Gazetteer
from .tracks import group_starts


@dataclass
class VisitResult:
    """Per-row arrays (length n) and the visit table."""

    near_port: np.ndarray   # port index whose exit radius holds the fix, else -1
    port_idx: np.ndarray    # port index of the visit the fix belongs to, else -1
    visit: np.ndarray       # global visit number, else -1
    voyage_no: np.ndarray   # voyage number within the track of the interval ending at the row
    visits: pd.DataFrame    # one row per visit


def port_visits(tid: np.ndarray, t_s: np.ndarray, lat: np.ndarray, lon: np.ndarray,
                speed_kn: np.ndarray, gaz: Gazetteer, cfg: Config) -> VisitResult:
    """Find port visits and number voyages. ``speed_kn``: reported SOG, else implied speed."""
    n = len(tid)
    exit_r = gaz.radius_km * cfg.port_exit_factor
    near, dist = gaz.in_reach(lat, lon, exit_r, key=f"exit{cfg.port_exit_factor}")
    inner = np.zeros(n, bool)
    has = near >= 0
    inner[has] = dist[has] <= gaz.radius_km[near[has]]
    tstart = group_starts(tid)

    # Runs of consecutive fixes of one track near the same port.
    run_start = tstart | group_starts(near)
    run_id = np.cumsum(run_start) - 1
    starts = np.flatnonzero(run_start)
    ends = np.append(starts[1:], n) - 1
    rport = near[starts]
    any_inner = np.add.reduceat(inner.astype(np.int64), starts) > 0 if n else np.zeros(0, bool)
    stopped = np.nan_to_num(speed_kn, nan=np.inf) < cfg.stop_speed_kn
    any_stop = np.add.reduceat(stopped.astype(np.int64), starts) > 0 if n else np.zeros(0, bool)
    stay_h = (t_s[ends] - t_s[starts]) / 3600.0
    is_visit = (rport >= 0) & any_inner & (any_stop | (stay_h >= cfg.min_port_stay_h))

    vrun = np.flatnonzero(is_visit)
    visit_of_run = np.full(len(starts), -1, np.int64)
    visit_of_run[vrun] = np.arange(len(vrun))
    visit = visit_of_run[run_id] if n else np.zeros(0, np.int64)
    port_idx = np.where(visit >= 0, near, -1)

    # Observed entry/exit: the neighbouring fix is in the same track and not across a gap.
    gap_s = cfg.gap_hours * 3600.0
    vs, ve = starts[vrun], ends[vrun]
    prev_ok = np.zeros(len(vrun), bool)
    nz = ~tstart[vs]
    prev_ok[nz] = (t_s[vs[nz]] - t_s[vs[nz] - 1]) <= gap_s
    next_ok = np.zeros(len(vrun), bool)
    inb = ve + 1 < n
    cand = np.zeros(len(vrun), bool)
    cand[inb] = ~tstart[np.minimum(ve[inb] + 1, n - 1)]
    next_ok[cand] = (t_s[ve[cand] + 1] - t_s[ve[cand]]) <= gap_s
    visits = pd.DataFrame({
        "tid": tid[vs], "port_idx": rport[vrun], "first_row": vs, "last_row": ve,
        "arrival_s": t_s[vs], "departure_s": t_s[ve],
        "entry_observed": prev_ok, "exit_observed": next_ok,
    })

    # Voyage number of the interval (row-1, row): the count of visits of the track that
    # ended before the row. Visit ends are counted per track with a cumulative sum.
    vend = np.zeros(n, np.int64)
    vend[ve] = 1
    ended_through = np.cumsum(vend)  # visits ended at or before row (global)
    ended_before = np.empty(n, np.int64)
    if n:
        ended_before[0] = 0
        ended_before[1:] = ended_through[:-1]
    base = ended_before[np.flatnonzero(tstart)]
    track_no = np.cumsum(tstart) - 1
    voyage_no = ended_before - base[track_no] if n else np.zeros(0, np.int64)
    return VisitResult(near, port_idx, visit, voyage_no, visits)
