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
from .frames import frame_of
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


def port_visits(tid: np.ndarray, t_s, lat: np.ndarray, lon: np.ndarray,
                speed_kn: np.ndarray, gaz: Gazetteer, cfg: Config) -> VisitResult:
    """Find port visits and number voyages. ``t_s``: seconds, indexable by row (an array or a
    :class:`features.tracks.Seconds`); ``speed_kn``: reported SOG, else implied speed."""
    n = len(tid)
    exit_r = gaz.radius_km * cfg.port_exit_factor
    near, dist = gaz.in_reach(lat, lon, exit_r, key=f"exit{cfg.port_exit_factor}")
    # No visit, no port: one shared all -1 array serves both until a visit is found.
    port_idx = visit = np.full(n, -1, np.int32)
    # Everything below runs on the fixes near a port only: at sea, nothing happens.
    nz = np.flatnonzero(near >= 0)
    zt, zp = tid[nz], near[nz]
    run_start = np.ones(len(nz), bool)
    if len(nz) > 1:
        run_start[1:] = (nz[1:] != nz[:-1] + 1) | (zt[1:] != zt[:-1]) | (zp[1:] != zp[:-1])
    starts = np.flatnonzero(run_start)
    ends = np.append(starts[1:], len(nz)) - 1
    if len(starts):
        inner = dist[nz] <= gaz.radius_km[zp]
        stopped = np.nan_to_num(speed_kn[nz], nan=np.inf) < cfg.stop_speed_kn
        any_inner = np.add.reduceat(inner.astype(np.int64), starts) > 0
        any_stop = np.add.reduceat(stopped.astype(np.int64), starts) > 0
        stay_h = (t_s[nz[ends]] - t_s[nz[starts]]) / 3600.0
        is_visit = any_inner & (any_stop | (stay_h >= cfg.min_port_stay_h))
    else:
        is_visit = np.zeros(0, bool)
    vrun = np.flatnonzero(is_visit)
    vs, ve = nz[starts[vrun]], nz[ends[vrun]]
    # Mark visit rows: +1 at each visit start, -1 after its end, cumulative sum > 0 inside.
    if len(vrun):
        mark = np.zeros(n + 1, np.int64)
        np.add.at(mark, vs, np.arange(1, len(vrun) + 1))
        np.add.at(mark, ve + 1, -np.arange(1, len(vrun) + 1))
        visit = (np.cumsum(mark[:-1]) - 1).astype(np.int32)
        port_idx = np.where(visit >= 0, near, -1).astype(np.int32)
    rport = near[vs] if len(vrun) else np.zeros(0, np.int64)

    # Observed entry/exit: the neighbouring fix is in the same track and not across a gap.
    gap_s = cfg.gap_hours * 3600.0
    tstart = group_starts(tid)
    prev_ok = np.zeros(len(vrun), bool)
    nz_prev = ~tstart[vs]
    prev_ok[nz_prev] = (t_s[vs[nz_prev]] - t_s[vs[nz_prev] - 1]) <= gap_s
    next_ok = np.zeros(len(vrun), bool)
    cand = ve + 1 < n
    cand[cand] = ~tstart[ve[cand] + 1]
    next_ok[cand] = (t_s[ve[cand] + 1] - t_s[ve[cand]]) <= gap_s
    visits = frame_of({
        "tid": tid[vs], "port_idx": rport, "first_row": vs, "last_row": ve,
        "arrival_s": t_s[vs], "departure_s": t_s[ve],
        "entry_observed": prev_ok, "exit_observed": next_ok,
    })

    # Voyage number of the interval (row-1, row): the count of visits of the track that
    # ended before the row.
    if len(vrun) == 0:
        voyage_no = np.zeros(n, np.int32)
    else:
        vend = np.zeros(n, np.int64)
        vend[ve] = 1
        ended_before = np.empty(n, np.int64)
        ended_before[0] = 0
        np.cumsum(vend[:-1], out=ended_before[1:])
        first_rows = np.flatnonzero(tstart)
        base = ended_before[first_rows]
        voyage_no = (ended_before - np.repeat(base, np.diff(np.append(first_rows, n)))).astype(np.int32)
    return VisitResult(near.astype(np.int32, copy=False), port_idx, visit, voyage_no, visits)
