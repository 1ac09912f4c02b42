"""The local engine: files in, accounted rows, tracks, voyages and voyage features out.

Per-vessel work is two functions of a frame (:func:`split_tracks`, :func:`vessel_voyages`)
that give the same answer for one vessel's rows or for all vessels at once, so a distributed
engine can call them per MMSI group unchanged. Here they run once over everything, vectorised.
Only the reception context that needs every vessel's traffic (coverage grid, neighbours) is
computed across vessels (:func:`build_coverage`, :func:`add_live_context`); the engine
(:mod:`features.engine`) puts the stages together.
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
from .coverage import CoverageGrid, cell_day_coverage, neighbours_during_gaps
from .frames import frame_of
from .gazetteer import Gazetteer, load_gazetteer
from .readers import ReadResult, read_inputs
from .tracks import (Seconds, duplicate_mask, epoch_us, fill_identity, group_starts, implied_speed_kn,
                     order_by_track, segment, sort_rows, step_km, utc_times)
from .voyage_table import voyage_features
from .voyages import port_visits
from .geo import haversine_km

log = logging.getLogger(__name__)

#: Columns the tracking stage adds (internal integer codes; ids are built at write time).
TRACK_COLS = ("track_no", "step_km", "near_port", "port_idx", "visit", "voyage_no")
#: Input columns the voyage features read; ``features`` gathers only these.
FEATURE_INPUTS = ("mmsi", "timestamp", "lat", "lon", "sog", "cog") + S.IDENTITY

Stage = Callable[[str], None]


def no_stage(_: str) -> None:
    pass


@dataclass
class RowCounts:
    """``read == positions + static + sum(rejected)``, by construction and by test.
    ``re_decoded``: rows kept whose text was not UTF-8 (decoded as cp1252/Latin-1); they are
    counted in the other figures too, and written as their own metadata key (the contract's
    row counts have four)."""

    read: int = 0
    positions: int = 0
    static: int = 0
    rejected: dict[str, int] = field(default_factory=dict)
    re_decoded: int = 0

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

    def share_outside(self, gaz: Gazetteer, km: float) -> float:
        """The share of the accepted fixes farther than ``km`` from every port of ``gaz``
        (:meth:`~features.gazetteer.Gazetteer.share_outside`; 0 with none): how much of the
        feed lies outside the gazetteer's sea, which every command that reads AIS says."""
        return gaz.share_outside(self.positions["lat"].to_numpy(), self.positions["lon"].to_numpy(), km)


@dataclass
class Run:
    """What an engine did.

    ``counts``: row accounting; ``out``: where the output went (None when nothing was
    written); ``figures``: name -> number or text for the terminal summary; ``voyages``: the
    voyage table (``features``) or the scored one (``score``), always small enough for one
    machine; ``no_voyage``: tracks with nothing to score (``score``); ``tracks``: the local
    engine's tracked fixes (None on Spark, where they stay distributed); ``coverage``: the
    grid the features used; ``events``: the event table (``events``); ``identities``: the
    identity links (``identities``, ``score``); ``hull_events``: the shared-MMSI and spoofed
    position events the ranking acts on (``score``, :func:`features.identity.hull_events`)."""

    counts: RowCounts
    out: str | None = None
    figures: dict = field(default_factory=dict)
    voyages: pd.DataFrame | None = None
    no_voyage: pd.DataFrame | None = None
    tracks: TrackResult | None = None
    coverage: CoverageGrid | None = None
    events: pd.DataFrame | None = None
    identities: pd.DataFrame | None = None
    hull_events: pd.DataFrame | None = None


def _t_us(frame: pd.DataFrame) -> np.ndarray:
    return epoch_us(frame["timestamp"])


def _pick(a: np.ndarray, rows: np.ndarray | None) -> np.ndarray:
    return a if rows is None else a[rows]


def split_tracks(rows: pd.DataFrame, gaz: Gazetteer, cfg: Config, keep_all: bool = True):
    """Validated rows of any set of vessels -> (accepted fixes, newly rejected, static, visits).

    Rows already carrying a ``_reason`` are skipped (the caller accounts for them). The work
    runs on a few numpy columns; the wide frame is gathered once, at the end, in final order.
    """
    reason_set = _has_reason(rows)
    static_mask = rows[S.STATIC_COL].to_numpy(bool) & ~reason_set
    is_pos = ~reason_set & ~static_mask
    mmsi, t_us = rows["mmsi"].to_numpy(np.int64), epoch_us(rows["timestamp"])
    lat, lon = rows["lat"].to_numpy(float), rows["lon"].to_numpy(float)
    if not is_pos.all():
        # Sort every row and drop the others from the order afterwards: one pass over the
        # order instead of four gathers of the columns. Their MMSIs and times may be anything
        # (NaT, 10 digits): give them harmless ones so the sort key stays compact.
        t_us = np.where(is_pos, t_us, t_us[is_pos].min() if is_pos.any() else 0)
        mmsi = np.where(is_pos, mmsi, 0)
    order, mmsi, t_us, lat, lon = sort_rows(mmsi, t_us, lat, lon)
    if not is_pos.all():
        # Every other row got MMSI 0, below every ship-station MMSI: they sorted to the front,
        # so dropping them is a slice, not a copy.
        k = int(len(is_pos) - is_pos.sum())
        order, mmsi, t_us, lat, lon = order[k:], mmsi[k:], t_us[k:], lat[k:], lon[k:]
    del is_pos

    dup = duplicate_mask(mmsi, t_us, lat, lon, cfg)
    # Row selections stay ``None`` while they are "all sorted rows, in order": on clean
    # input nothing is copied just to be selected.
    seg_rows = np.flatnonzero(~dup) if dup.any() else None
    track, jump, step = segment(*(_pick(x, seg_rows) for x in (mmsi, t_us, lat, lon)), cfg)
    acc_rows, jump_rows = seg_rows, np.zeros(0, np.int64)
    if jump.any():
        seg_idx = np.arange(len(mmsi)) if seg_rows is None else seg_rows
        acc_rows, jump_rows, track, step = seg_idx[~jump], seg_idx[jump], track[~jump], None
    reorder = order_by_track(_pick(mmsi, acc_rows), track)
    if reorder is not None:
        acc_rows = reorder if acc_rows is None else acc_rows[reorder]
        track, step = track[reorder], None
    mm, la, lo, tt = (_pick(x, acc_rows) for x in (mmsi, lat, lon, t_us))
    if step is None:
        step = step_km(mm, track, la, lo)
    else:  # one track per MMSI and the segmenter's order: its steps stand
        step[group_starts(mm)] = 0.0

    rejected = _duplicates_and_jumps(rows, order[dup], order[jump_rows], cfg)

    # Accepted rows have no reason and are not static: those bookkeeping columns go; without
    # ``keep_all`` only the columns the voyage features read are gathered.
    cols = [c for c in rows.columns if c not in (S.REASON_COL, S.DETAIL_COL, S.STATIC_COL)
            and (keep_all or c in FEATURE_INPUTS)]
    take = order if acc_rows is None else order[acc_rows]
    # The four core columns are already sorted in hand; gather only the others, and build
    # the frame from the arrays without copying them again.
    data = {"mmsi": mm, "timestamp": utc_times(tt),
            "lat": la, "lon": lo}
    for c in cols:
        if c not in data:
            data[c] = rows[c].array.take(take)
    del take
    data["track_no"] = track
    data["step_km"] = step
    tid = np.cumsum(group_starts(mm, track), dtype=np.int32)
    tid -= 1
    t_s = Seconds(tt)
    sog = np.asarray(data["sog"], float) if "sog" in data else None
    vr = port_visits(tid, t_s, la, lo, _fix_speed_kn(sog, tid, t_s, la, lo, cfg), gaz, cfg)
    data.update(near_port=vr.near_port, port_idx=vr.port_idx, visit=vr.visit, voyage_no=vr.voyage_no)
    acc = frame_of(data)
    static = _static_rows(rows, static_mask)
    acc = fill_identity(acc, static)
    if len(acc.columns) > len(data):  # identity columns only static rows carried: visits stay last
        acc = acc[[c for c in acc.columns if c not in _VISIT_COLUMNS] + list(_VISIT_COLUMNS)]
    return acc, rejected, static, vr.visits


_VISIT_COLUMNS = ("near_port", "port_idx", "visit", "voyage_no")


def _static_rows(rows: pd.DataFrame, static_mask: np.ndarray) -> pd.DataFrame:
    """The identity rows without a position, sorted by (mmsi, time)."""
    if not static_mask.any():  # the usual case (and every REST track): no gathers to pay for
        return _no_rows(rows)
    static = rows.take(np.flatnonzero(static_mask))
    order = sort_rows(static["mmsi"].to_numpy(np.int64), epoch_us(static["timestamp"]),
                      np.zeros(len(static)), np.zeros(len(static)))[0]
    return static.take(order).reset_index(drop=True)


def _has_reason(rows: pd.DataFrame) -> np.ndarray:
    """Per row: rejected already (a reason is set). ``validate`` gives reasons as a category,
    whose codes answer without the per-row ``isna`` (the Spark bridge passes plain objects)."""
    col = rows[S.REASON_COL]
    return col.array.codes >= 0 if isinstance(col.dtype, pd.CategoricalDtype) else col.notna().to_numpy()


def _no_rows(rows: pd.DataFrame) -> pd.DataFrame:
    """``rows`` without any row, counted from 0."""
    none = rows.iloc[:0]
    return none if isinstance(none.index, pd.RangeIndex) else none.reset_index(drop=True)


def _duplicates_and_jumps(rows: pd.DataFrame, dup_rows: np.ndarray, jump_rows: np.ndarray, cfg: Config) -> pd.DataFrame:
    """The rows rejected by the tracker, with their reasons."""
    if not len(dup_rows) and not len(jump_rows):
        return _no_rows(rows)
    rej_dup = rows.take(dup_rows)
    rej_dup[S.REASON_COL] = S.DUPLICATE
    rej_dup[S.DETAIL_COL] = f"same MMSI and position as the row before, within {cfg.duplicate_window_s:g} s"
    rej_jump = rows.take(jump_rows)
    rej_jump[S.REASON_COL] = S.JUMP
    rej_jump[S.DETAIL_COL] = f"reachable from no track of its MMSI at <= {cfg.max_speed_kn:g} kn"
    return pd.concat([rej_dup, rej_jump], ignore_index=True) if len(rej_jump) else rej_dup


def _fix_speed_kn(sog: np.ndarray | None, tid: np.ndarray, t_s: Seconds, la: np.ndarray, lo: np.ndarray,
                  cfg: Config) -> np.ndarray:
    """Port visits and voyages need a speed per fix: the reported SOG (kn, ``None`` when no row
    has one), else the implied one from the fix before on the same track (NaN for a track's
    first fix)."""
    speed = sog if sog is not None else np.full(len(tid), np.nan)
    miss = np.flatnonzero(~np.isfinite(speed))
    if len(miss):
        speed = speed.copy()
        prev = np.maximum(miss - 1, 0)
        same = (miss > 0) & (tid[prev] == tid[miss])
        d = haversine_km(la[prev], lo[prev], la[miss], lo[miss])
        imp = implied_speed_kn(d + cfg.position_noise_km, t_s[miss] - t_s[prev], cfg)
        speed[miss] = np.where(same, imp, np.nan)
    return speed


#: Rows per batch of whole vessels for the voyage features. Each vessel's voyages depend on
#: its own fixes only, so batching changes nothing but memory: ~1 M-row batches keep every
#: temporary array small enough for the allocator to reuse instead of mapping fresh pages.
VOYAGE_BATCH_ROWS = 1_000_000


def vessel_voyages(positions: pd.DataFrame, gaz: Gazetteer, cfg: Config = DEFAULT,
                   coverage: CoverageGrid | None = None, batch_rows: int = VOYAGE_BATCH_ROWS) -> pd.DataFrame:
    """Per-vessel function, frame -> frame: accepted tracked fixes -> one row per voyage."""
    n = len(positions)
    if n <= batch_rows:
        return voyage_features(positions, gaz, cfg, coverage)
    starts = np.flatnonzero(group_starts(positions["mmsi"].to_numpy(np.int64)))
    cuts = [0]
    for target in range(batch_rows, n, batch_rows):
        k = int(np.searchsorted(starts, target))
        if k < len(starts) and starts[k] > cuts[-1]:
            cuts.append(int(starts[k]))
    cuts.append(n)
    parts = [voyage_features(positions.iloc[a:b], gaz, cfg, coverage) for a, b in zip(cuts[:-1], cuts[1:]) if b > a]
    return pd.concat(parts, ignore_index=True)


def run_tracks(paths: Sequence, gaz: Gazetteer | None = None, cfg: Config = DEFAULT,
               stage: Stage = no_stage, keep_all: bool = True) -> TrackResult:
    """Read, validate, de-duplicate, split into tracks, find port visits and voyages.

    ``keep_all``: carry every input column to the accepted positions (the ``tracks``
    output); without it only the columns the voyage features read."""
    stage("reading")
    return tracks_from_raw(read_inputs(paths), gaz, cfg, stage, keep_all)


def tracks_from_raw(raw: ReadResult, gaz: Gazetteer | None = None, cfg: Config = DEFAULT,
                    stage: Stage = no_stage, keep_all: bool = True) -> TrackResult:
    """:func:`run_tracks` for rows already in memory (a REST request, say)."""
    gaz = gaz or load_gazetteer()
    stage("validating")
    rows = validate(raw.frame, cfg)
    bad = np.flatnonzero(_has_reason(rows))
    stage("tracks, port visits, voyages")
    acc, rej2, static, visits = split_tracks(rows, gaz, cfg, keep_all)
    marked = rows.take(bad) if len(bad) else rej2.iloc[:0]  # a REST track has none to gather
    parts = [x for x in (raw.unparseable, marked, rej2) if len(x)]
    n_read, re_decoded = raw.n_read, raw.re_decoded
    del raw, rows
    rejected = pd.concat(parts, ignore_index=True, sort=False) if parts else rej2
    counts = RowCounts(read=n_read, positions=len(acc), static=len(static),
                       rejected={str(k): int(v) for k, v in
                                 rejected[S.REASON_COL].astype("str").value_counts().items()} if len(rejected) else {},
                       re_decoded=re_decoded)
    if not counts.balanced:  # a bug, never bad input: say so loudly
        raise AssertionError(f"row accounting does not add up: {counts.to_dict()}")
    log.info("rows: %s", counts.to_dict())
    return TrackResult(acc, visits, rejected, static, counts)


def jumps_of(tr: TrackResult) -> pd.DataFrame:
    """The rows the tracker rejected as implausible jumps (mmsi, timestamp, lat, lon): the
    spoofing typology of jumps that come back reads them."""
    rej = tr.rejected
    if not len(rej) or S.REASON_COL not in rej:
        return pd.DataFrame({"mmsi": np.zeros(0, np.int64), "timestamp": utc_times(np.zeros(0, np.int64)),
                             "lat": np.zeros(0), "lon": np.zeros(0)})
    return rej.loc[rej[S.REASON_COL].astype("str") == S.JUMP, ["mmsi", "timestamp", "lat", "lon"]]


def build_coverage(positions: pd.DataFrame, cfg: Config = DEFAULT) -> CoverageGrid:
    """Reference coverage grid from tracked fixes (training data, or the input itself)."""
    mm = positions["mmsi"].to_numpy(np.int64)
    tid = np.cumsum(group_starts(mm, positions["track_no"].to_numpy())) - 1
    return CoverageGrid.build(tid, _t_us(positions), positions["lat"].to_numpy(float),
                              positions["lon"].to_numpy(float), cfg)


def add_live_context(voyages: pd.DataFrame, positions: pd.DataFrame, cfg: Config = DEFAULT) -> pd.DataFrame:
    """Fill the live-context columns of each voyage's longest gap from all vessels' traffic:
    neighbours still reporting near its start while it lasted, and the coverage of its start
    cell on that day."""
    has = voyages["lg_start"].notna().to_numpy()
    if not has.any() or len(positions) == 0:
        return voyages
    tid = np.cumsum(group_starts(positions["mmsi"].to_numpy(np.int64), positions["track_no"].to_numpy())) - 1
    t_us = _t_us(positions)
    lat, lon = positions["lat"].to_numpy(float), positions["lon"].to_numpy(float)
    v = voyages[has]
    t0, t1 = epoch_us(v["lg_start"]), epoch_us(v["lg_end"])
    g_lat, g_lon = v["lg_start_lat"].to_numpy(float), v["lg_start_lon"].to_numpy(float)
    vh, per_h = neighbours_during_gaps(tid, t_us, lat, lon, t0, t1, g_lat, g_lon, cfg)
    rate, mean_int = cell_day_coverage(tid, t_us, lat, lon, t0, g_lat, g_lon, cfg)
    voyages = voyages.copy()
    voyages.loc[has, "ctx_neighbour_vessel_h"] = vh
    voyages.loc[has, "ctx_neighbours_per_h"] = per_h
    voyages.loc[has, "ctx_cell_day_gap_rate"] = rate
    voyages.loc[has, "ctx_cell_day_interval_s"] = mean_int
    return voyages
