"""The local engine: files in, accounted rows, tracks, voyages and voyage features out.

Per-vessel work is two functions of a frame (:func:`track_vessels`, :func:`vessel_voyages`)
that give the same answer for one vessel's rows or for all vessels at once, so a distributed
engine can call them per MMSI group unchanged. Here they run once over everything, vectorised.
Only the reception context that needs every vessel's traffic (coverage grid, neighbours) is
computed across vessels, in :func:`run_features`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from . import schema as S
from .clean import validate
from .config import DEFAULT, Config
from .coverage import CoverageGrid, neighbours_during_gaps
from .gazetteer import Gazetteer, load_gazetteer
from .readers import read_inputs
from .tracks import (duplicate_mask, epoch_us, fill_identity, group_starts, implied_speed_kn,
                     order_by_track, segment, sort_order)
from .voyage_features import voyage_features
from .voyages import port_visits
from .geo import haversine_km

log = logging.getLogger(__name__)

#: Columns the tracking stage adds (internal integer codes; ids are built at write time).
TRACK_COLS = ("track_no", "near_port", "port_idx", "visit", "voyage_no")

Stage = Callable[[str], None]


def _noop(_: str) -> None:
    pass


@dataclass
class RowCounts:
    """``read == positions + static + sum(rejected)``, by construction and by test."""

    read: int = 0
    positions: int = 0
    static: int = 0
    rejected: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"read": self.read, "positions": self.positions, "static": self.static,
                "rejected": dict(sorted(self.rejected.items()))}

    @property
    def balanced(self) -> bool:
        return self.read == self.positions + self.static + sum(self.rejected.values())


@dataclass
class TrackResult:
    positions: pd.DataFrame   # accepted fixes sorted by (mmsi, track_no, time), with TRACK_COLS
    visits: pd.DataFrame      # one row per port visit (tid, port_idx, rows, times, observed flags)
    rejected: pd.DataFrame    # every rejected row with _reason, _detail, _file, _line
    static: pd.DataFrame      # accepted identity rows without a position
    counts: RowCounts


def _t_us(frame: pd.DataFrame) -> np.ndarray:
    return epoch_us(frame["timestamp"])


def _split_tracks(rows: pd.DataFrame, gaz: Gazetteer, cfg: Config):
    """Validated, accepted rows of any set of vessels -> (accepted fixes, newly rejected, static, visits)."""
    static_mask = rows[S.STATIC_COL].to_numpy(bool)
    static = rows[static_mask]
    pos = rows[~static_mask]
    mmsi = pos["mmsi"].to_numpy(np.int64)
    t_us = _t_us(pos)
    lat = pos["lat"].to_numpy(float)
    lon = pos["lon"].to_numpy(float)
    order = sort_order(mmsi, t_us, lat, lon)
    mmsi, t_us, lat, lon = mmsi[order], t_us[order], lat[order], lon[order]

    dup = duplicate_mask(mmsi, t_us, lat, lon, cfg)
    keep = np.flatnonzero(~dup)
    track, jump = segment(mmsi[keep], t_us[keep], lat[keep], lon[keep], cfg)
    acc_rows = keep[~jump]
    track = track[~jump]
    reorder = order_by_track(mmsi[acc_rows], track)
    if reorder is not None:
        acc_rows, track = acc_rows[reorder], track[reorder]

    rej_dup = pos.iloc[order[dup]].copy()
    rej_dup[S.REASON_COL] = S.DUPLICATE
    rej_dup[S.DETAIL_COL] = f"same MMSI and position as the row before, within {cfg.duplicate_window_s:g} s"
    rej_jump = pos.iloc[order[keep[jump]]].copy()
    rej_jump[S.REASON_COL] = S.JUMP
    rej_jump[S.DETAIL_COL] = f"reachable from no track of its MMSI at <= {cfg.max_speed_kn:g} kn"
    rejected = pd.concat([rej_dup, rej_jump], ignore_index=True) if len(rej_jump) else rej_dup

    acc = pos.iloc[order[acc_rows]].reset_index(drop=True)
    acc["track_no"] = track
    static = static.iloc[sort_order(static["mmsi"].to_numpy(np.int64), _t_us(static),
                                    np.zeros(len(static)), np.zeros(len(static)))].reset_index(drop=True)
    acc = fill_identity(acc, static)

    # Port visits and voyages need a speed per fix: the reported SOG, else the implied one.
    mm = acc["mmsi"].to_numpy(np.int64)
    tid = np.cumsum(group_starts(mm, track)) - 1
    t_s = _t_us(acc) / 1e6
    la, lo = acc["lat"].to_numpy(float), acc["lon"].to_numpy(float)
    speed = acc["sog"].to_numpy(float).copy() if "sog" in acc else np.full(len(acc), np.nan)
    miss = np.flatnonzero(~np.isfinite(speed))
    if len(miss):
        prev = np.maximum(miss - 1, 0)
        same = (miss > 0) & (tid[prev] == tid[miss])
        d = haversine_km(la[prev], lo[prev], la[miss], lo[miss])
        imp = implied_speed_kn(d + cfg.position_noise_km, t_s[miss] - t_s[prev], cfg)
        speed[miss] = np.where(same, imp, np.nan)
    vr = port_visits(tid, t_s, la, lo, speed, gaz, cfg)
    acc["near_port"] = vr.near_port
    acc["port_idx"] = vr.port_idx
    acc["visit"] = vr.visit
    acc["voyage_no"] = vr.voyage_no
    return acc, rejected, static, vr.visits


def track_vessels(rows: pd.DataFrame, gaz: Gazetteer, cfg: Config = DEFAULT) -> pd.DataFrame:
    """Per-vessel function, frame -> frame: validated rows of some vessels (``_reason`` empty)
    -> the same rows, accepted fixes first (sorted, with :data:`TRACK_COLS`), then rows rejected
    as duplicates or jumps (``_reason`` set), then static rows. Row count is preserved."""
    acc, rej, static, _ = _split_tracks(rows, gaz, cfg)
    return pd.concat([acc, rej, static], ignore_index=True, sort=False)


def vessel_voyages(positions: pd.DataFrame, gaz: Gazetteer, cfg: Config = DEFAULT,
                   coverage: CoverageGrid | None = None) -> pd.DataFrame:
    """Per-vessel function, frame -> frame: accepted tracked fixes -> one row per voyage."""
    return voyage_features(positions, gaz, cfg, coverage)


def run_tracks(paths: Sequence, gaz: Gazetteer | None = None, cfg: Config = DEFAULT,
               stage: Stage = _noop) -> TrackResult:
    """Read, validate, de-duplicate, split into tracks, find port visits and voyages."""
    gaz = gaz or load_gazetteer()
    stage("reading")
    raw = read_inputs(paths)
    stage("validating")
    rows = validate(raw.frame)
    bad = rows[S.REASON_COL].notna().to_numpy()
    stage("tracks, port visits, voyages")
    acc, rej2, static, visits = _split_tracks(rows[~bad], gaz, cfg)
    rejected = pd.concat([x for x in (raw.unparseable, rows[bad], rej2) if len(x)],
                         ignore_index=True, sort=False) if (len(raw.unparseable) or bad.any() or len(rej2)) \
        else rows.iloc[:0]
    counts = RowCounts(read=raw.n_read, positions=len(acc), static=len(static),
                       rejected={str(k): int(v) for k, v in
                                 rejected[S.REASON_COL].astype("str").value_counts().items()})
    if not counts.balanced:  # a bug, never bad input: say so loudly
        raise AssertionError(f"row accounting does not add up: {counts.to_dict()}")
    log.info("rows: %s", counts.to_dict())
    return TrackResult(acc, visits, rejected, static, counts)


def build_coverage(positions: pd.DataFrame, cfg: Config = DEFAULT) -> CoverageGrid:
    """Reference coverage grid from tracked fixes (training data, or the input itself)."""
    mm = positions["mmsi"].to_numpy(np.int64)
    tid = np.cumsum(group_starts(mm, positions["track_no"].to_numpy(np.int64))) - 1
    return CoverageGrid.build(tid, _t_us(positions) / 1e6, positions["lat"].to_numpy(float),
                              positions["lon"].to_numpy(float), cfg)


def add_live_context(voyages: pd.DataFrame, positions: pd.DataFrame, cfg: Config = DEFAULT) -> pd.DataFrame:
    """Fill the ``ctx_neighbour*`` columns: other vessels reporting near each longest gap."""
    has = voyages["lg_start"].notna().to_numpy()
    if not has.any() or len(positions) == 0:
        return voyages
    mm = positions["mmsi"].to_numpy(np.int64)
    tid = np.cumsum(group_starts(mm, positions["track_no"].to_numpy(np.int64))) - 1
    v = voyages[has]
    t0 = epoch_us(v["lg_start"]) / 1e6
    t1 = epoch_us(v["lg_end"]) / 1e6
    vh, per_h = neighbours_during_gaps(tid, _t_us(positions) / 1e6, positions["lat"].to_numpy(float),
                                       positions["lon"].to_numpy(float), t0, t1,
                                       v["lg_start_lat"].to_numpy(float), v["lg_start_lon"].to_numpy(float), cfg)
    voyages = voyages.copy()
    voyages.loc[has, "ctx_neighbour_vessel_h"] = vh
    voyages.loc[has, "ctx_neighbours_per_h"] = per_h
    return voyages


def run_features(paths: Sequence, gaz: Gazetteer | None = None, cfg: Config = DEFAULT,
                 coverage: CoverageGrid | None = None, stage: Stage = _noop) -> tuple[pd.DataFrame, TrackResult]:
    """Voyage table for the inputs. Without a reference ``coverage`` grid, one is built from
    the inputs themselves."""
    gaz = gaz or load_gazetteer()
    tr = run_tracks(paths, gaz, cfg, stage)
    stage("coverage grid")
    grid = coverage if coverage is not None else build_coverage(tr.positions, cfg)
    stage("voyage features")
    voyages = vessel_voyages(tr.positions, gaz, cfg, grid)
    stage("neighbours during gaps")
    voyages = add_live_context(voyages, tr.positions, cfg)
    return voyages, tr
