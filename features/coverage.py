"""Reception context from the data itself.

Two different things, kept apart on purpose (train/serve skew):

* :class:`CoverageGrid` - a static reference: per grid cell, how often tracks there go more
  than ``gap_hours`` between fixes, and their usual reporting interval. Built once from
  training data and logged with the model, it can be looked up for any single vessel, so
  features derived from it are model inputs.
* :func:`neighbours_during_gaps` - live evidence: how many *other* vessels kept reporting
  near where a gap started while it lasted. It needs everyone's traffic, which ``/score``
  does not have, so it feeds reasons and reports, not the model.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd

from .config import Config
from .geo import cell_key, grid_shape, key_offset


@dataclass(frozen=True)
class CoverageGrid:
    """Per cell of ``cell_deg`` degrees: intervals seen, gap intervals, mean non-gap interval."""

    cell_deg: float
    gap_hours: float
    table: pd.DataFrame  # columns: cell (int64, sorted), n_intervals, n_gaps, mean_interval_s

    @classmethod
    def build(cls, tid: np.ndarray, t_us: np.ndarray, lat: np.ndarray, lon: np.ndarray,
              cfg: Config) -> CoverageGrid:
        """From fixes sorted by (track, time), ``t_us`` in epoch microseconds; an interval
        counts in the cell where it starts."""
        n = len(tid)
        if n < 2:
            return cls.empty(cfg)
        # Whole-length passes, no gathers: intervals across a track boundary go to a spare
        # bin past the grid and are dropped.
        size = int(np.prod(grid_shape(cfg.coverage_cell_deg)))
        cells = cell_key(lat[:-1], lon[:-1], cfg.coverage_cell_deg)
        cells[tid[1:] != tid[:-1]] = size
        dt = np.diff(t_us)
        gap = dt > gap_us(cfg)
        n_int = np.bincount(cells, minlength=size + 1)[:size]
        n_gap = np.bincount(cells, weights=gap, minlength=size + 1)[:size]
        dt[gap] = 0
        sum_ok = np.bincount(cells, weights=dt, minlength=size + 1)[:size]
        seen = np.flatnonzero(n_int)
        return cls.from_sums(seen, n_int[seen], n_gap[seen], sum_ok[seen], cfg)

    @classmethod
    def from_sums(cls, cell, n_intervals, n_gaps, sum_ok_us, cfg: Config) -> CoverageGrid:
        """From per-cell sums (any engine's aggregation): intervals, gap intervals and the
        summed length of the non-gap intervals in microseconds."""
        order = np.argsort(np.asarray(cell, np.int64), kind="stable")
        n_int = np.asarray(n_intervals, np.int64)[order]
        n_gap = np.asarray(n_gaps, np.int64)[order]
        table = pd.DataFrame({"cell": np.asarray(cell, np.int64)[order], "n_intervals": n_int, "n_gaps": n_gap,
                              "mean_interval_s": mean_interval_s(np.asarray(sum_ok_us, float)[order], n_int - n_gap)})
        return cls(cfg.coverage_cell_deg, cfg.gap_hours, table)

    @classmethod
    def empty(cls, cfg: Config) -> CoverageGrid:
        return cls(cfg.coverage_cell_deg, cfg.gap_hours, pd.DataFrame(
            {"cell": pd.Series(dtype="int64"), "n_intervals": pd.Series(dtype="int64"),
             "n_gaps": pd.Series(dtype="int64"), "mean_interval_s": pd.Series(dtype="float64")}))

    def lookup(self, lat, lon) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(gap rate in [0, 1], mean interval s, intervals seen) of each point's cell; NaN where unseen."""
        keys = cell_key(lat, lon, self.cell_deg)
        cells, n_intervals, n_gaps, mean_interval = self._columns
        n = len(keys)
        rate = np.full(n, np.nan)
        mean_int = np.full(n, np.nan)
        seen = np.zeros(n)
        if len(cells) == 0 or n == 0:
            return rate, mean_int, seen
        pos = np.clip(np.searchsorted(cells, keys), 0, len(cells) - 1)
        hit = cells[pos] == keys
        n_int = n_intervals[pos]
        rate[hit] = (n_gaps[pos] / np.maximum(n_int, 1))[hit]
        mean_int[hit] = mean_interval[pos][hit]
        seen[hit] = n_int[hit]
        return rate, mean_int, seen

    @cached_property
    def _columns(self) -> tuple[np.ndarray, ...]:
        """The table's columns as read-only arrays, read once: a /score request looks the grid
        up twice, and four column reads cost more than the lookup."""
        out = tuple(np.array(self.table[c].to_numpy()) for c in ("cell", "n_intervals", "n_gaps", "mean_interval_s"))
        for a in out:
            a.setflags(write=False)
        return out

    def save(self, path: str | Path) -> None:
        """Parquet, with the cell size and gap threshold in its key-value metadata."""
        import pyarrow as pa
        import pyarrow.parquet as pq
        table = pa.Table.from_pandas(self.table, preserve_index=False)
        meta = {b"darkvoyage.coverage": json.dumps({"cell_deg": self.cell_deg, "gap_hours": self.gap_hours}).encode()}
        pq.write_table(table.replace_schema_metadata(meta), path)

    @classmethod
    def load(cls, path: str | Path) -> CoverageGrid:
        import pyarrow.parquet as pq
        table = pq.read_table(path)
        meta = json.loads((table.schema.metadata or {})[b"darkvoyage.coverage"])
        return cls(float(meta["cell_deg"]), float(meta["gap_hours"]), table.to_pandas())


def gap_us(cfg: Config) -> int:
    """``gap_hours`` in whole microseconds: both engines compare integer intervals to it."""
    return int(round(cfg.gap_hours * 3_600_000_000))


def bucket_us(cfg: Config) -> int:
    return int(round(cfg.coverage_bucket_h * 3_600_000_000))


DAY_US = 86_400_000_000


def mean_interval_s(sum_ok_us, n_ok) -> np.ndarray:
    """Mean non-gap interval (s) from summed microseconds; NaN where no interval is a non-gap.
    The Spark engine writes the same expression: ``sum_ok_us / (n_ok * 1e6)``."""
    sum_ok_us, n_ok = np.asarray(sum_ok_us, float), np.asarray(n_ok, np.int64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n_ok > 0, sum_ok_us / (n_ok * 1e6), np.nan)


def presence_keys(tid: np.ndarray, t_us: np.ndarray, lat: np.ndarray, lon: np.ndarray, cfg: Config) -> dict:
    """Per fix (sorted by track, time): ``cell`` (coverage grid key), ``bucket``
    (``coverage_bucket_h`` since the epoch) and ``presence`` (the fix opens a run of its track
    in one cell and bucket): what neighbour counts group by."""
    cell = cell_key(lat, lon, cfg.coverage_cell_deg)
    bucket = t_us // bucket_us(cfg)
    presence = np.ones(len(tid), bool)
    if len(tid) > 1:
        presence[1:] = (tid[1:] != tid[:-1]) | (cell[1:] != cell[:-1]) | (bucket[1:] != bucket[:-1])
    return {"cell": cell, "bucket": bucket, "presence": presence}


def fix_keys(tid: np.ndarray, t_us: np.ndarray, lat: np.ndarray, lon: np.ndarray, cfg: Config) -> dict:
    """Per fix (sorted by track, time): what the cross-vessel aggregations group by.

    :func:`presence_keys`, plus ``day`` (UTC day since the epoch) and ``next_dt_us`` (interval
    to the track's next fix, -1 at its last fix). Depends on one track only, so an engine can
    compute it per vessel and aggregate across vessels.
    """
    nxt = np.full(len(tid), -1, np.int64)
    if len(tid) > 1:
        nxt[:-1] = np.where(tid[1:] == tid[:-1], np.diff(t_us), -1)
    return {**presence_keys(tid, t_us, lat, lon, cfg), "day": t_us // DAY_US, "next_dt_us": nxt}


def gap_keys(t0_us: np.ndarray, t1_us: np.ndarray, lat: np.ndarray, lon: np.ndarray, cfg: Config) -> dict:
    """Per gap starting at ``t0_us`` at (lat, lon) and ending at ``t1_us``: its start ``cell``,
    the first and last whole bucket strictly inside it (``first_b``, ``last_b``; none when
    ``last_b < first_b``) and the UTC ``day`` it starts."""
    b = bucket_us(cfg)
    return {"cell": cell_key(lat, lon, cfg.coverage_cell_deg), "first_b": np.asarray(t0_us) // b + 1,
            "last_b": np.asarray(t1_us) // b - 1, "day": np.asarray(t0_us) // DAY_US}


def neighbour_values(total, n_b, cfg: Config) -> tuple[np.ndarray, np.ndarray]:
    """(vessel-hours, vessels per hour) from presences counted over ``n_b`` buckets; NaN where
    the gap spans no whole bucket. Spark: ``total * bucket_h`` and ``total / (n_b * bucket_h)``."""
    total, n_b = np.asarray(total, float), np.asarray(n_b, np.int64)
    h = cfg.coverage_bucket_h
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n_b > 0, total * h, np.nan), np.where(n_b > 0, total / (n_b * h), np.nan)


def neighbours_during_gaps(tid: np.ndarray, t_us: np.ndarray, lat: np.ndarray, lon: np.ndarray,
                           gap_t0: np.ndarray, gap_t1: np.ndarray, gap_lat: np.ndarray,
                           gap_lon: np.ndarray, cfg: Config) -> tuple[np.ndarray, np.ndarray]:
    """Other vessels still reporting near each gap's start while the gap lasted.

    ``tid, t_us, lat, lon``: all fixes of the live data, sorted by (track, time), time in epoch
    microseconds. A gap starts at ``gap_t0`` (us) at ``gap_lat, gap_lon`` and ends at
    ``gap_t1``. Over the whole time buckets strictly inside the gap (the silent vessel has no
    fix there) this counts vessels reporting in the start cell and the ``neighbour_cells`` rings
    around it. Returns (vessel-hours, mean vessels per hour); NaN where the gap spans no whole
    bucket.
    """
    return neighbours_from_presences(presence_counts(tid, t_us, lat, lon, cfg), gap_t0, gap_t1, gap_lat, gap_lon, cfg)


def presence_counts(tid: np.ndarray, t_us: np.ndarray, lat: np.ndarray, lon: np.ndarray,
                    cfg: Config) -> dict[str, np.ndarray]:
    """Presences (:func:`presence_keys`) counted per ``cell`` and ``bucket`` (``n``), sorted by
    (cell, bucket): all that :func:`neighbours_from_presences` needs of the traffic, and what
    a distributed engine aggregates across its groups of vessels."""
    k = presence_keys(tid, t_us, lat, lon, cfg)
    # One presence per run of a track in one cell and bucket: millions of fixes shrink to
    # tens of thousands of presences.
    cell, bucket = k["cell"][k["presence"]].astype(np.int64), k["bucket"][k["presence"]].astype(np.int64)
    if not len(cell):
        return {"cell": cell, "bucket": bucket, "n": np.zeros(0, np.int64)}
    h0 = int(bucket.min())
    span = int(bucket.max()) - h0 + 1
    uniq, n = np.unique(cell * span + (bucket - h0), return_counts=True)
    return {"cell": uniq // span, "bucket": uniq % span + h0, "n": n.astype(np.int64)}


def neighbours_from_presences(pres: dict[str, np.ndarray], gap_t0: np.ndarray, gap_t1: np.ndarray,
                              gap_lat: np.ndarray, gap_lon: np.ndarray, cfg: Config) -> tuple[np.ndarray, np.ndarray]:
    """:func:`neighbours_during_gaps` from the traffic's :func:`presence_counts`."""
    m = len(gap_t0)
    if m == 0 or len(pres["n"]) == 0:
        return np.full(m, np.nan), np.full(m, np.nan)
    h0 = int(pres["bucket"].min())
    span = int(pres["bucket"].max()) - h0 + 2
    uniq = pres["cell"] * span + (pres["bucket"] - h0)  # sorted: by cell, then bucket
    csum = np.concatenate([[0], np.cumsum(pres["n"])])

    g = gap_keys(gap_t0, gap_t1, gap_lat, gap_lon, cfg)
    first_c = np.clip(g["first_b"] - h0, 0, span - 1)
    last_c = np.clip(g["last_b"] - h0, -1, span - 1)
    n_b = g["last_b"] - g["first_b"] + 1
    total = np.zeros(m, np.int64)
    r = cfg.neighbour_cells
    for di in range(-r, r + 1):
        for dj in range(-r, r + 1):
            c = key_offset(g["cell"], di, dj, cfg.coverage_cell_deg)
            lo = np.searchsorted(uniq, c * span + first_c, side="left")
            hi = np.searchsorted(uniq, c * span + last_c, side="right")
            total += np.where((n_b > 0) & (hi > lo), csum[hi] - csum[lo], 0)
    return neighbour_values(total, n_b, cfg)


def cell_day_coverage(tid: np.ndarray, t_us: np.ndarray, lat: np.ndarray, lon: np.ndarray,
                      q_t: np.ndarray, q_lat: np.ndarray, q_lon: np.ndarray,
                      cfg: Config) -> tuple[np.ndarray, np.ndarray]:
    """Live coverage of the cell and UTC day of each query point (a gap's start, ``q_t`` in
    epoch microseconds): the share of all tracks' intervals starting there that day that are
    gaps, and their mean non-gap interval (s). Only intervals in the queried cells are
    aggregated."""
    m = len(q_t)
    rate, mean_int = np.full(m, np.nan), np.full(m, np.nan)
    if m == 0 or len(tid) < 2:
        return rate, mean_int
    q_key = cell_key(q_lat, q_lon, cfg.coverage_cell_deg) * 100_000 + np.asarray(q_t) // DAY_US
    # Only intervals starting in a queried cell matter: select them through a dense mask over
    # the global grid, not a set look-up on every fix.
    wanted = np.zeros(int(np.prod(grid_shape(cfg.coverage_cell_deg))), bool)
    wanted[q_key // 100_000] = True
    cells_all = cell_key(lat, lon, cfg.coverage_cell_deg)
    a = np.flatnonzero(wanted[cells_all[:-1]] & (tid[1:] == tid[:-1]))
    if len(a) == 0:
        return rate, mean_int
    dt = t_us[a + 1] - t_us[a]
    key = cells_all[a] * 100_000 + t_us[a] // DAY_US
    uniq, inv = np.unique(key, return_inverse=True)
    gap = dt > gap_us(cfg)
    n = np.bincount(inv, minlength=len(uniq))
    n_gap = np.bincount(inv, weights=gap, minlength=len(uniq)).astype(np.int64)
    ok_sum = np.bincount(inv, weights=np.where(gap, 0, dt), minlength=len(uniq))
    pos = np.clip(np.searchsorted(uniq, q_key), 0, len(uniq) - 1)
    hit = uniq[pos] == q_key
    rate[hit] = (n_gap / n)[pos[hit]]
    mean_int[hit] = mean_interval_s(ok_sum, n - n_gap)[pos[hit]]
    return rate, mean_int


@dataclass(frozen=True)
class TrafficSums:
    """What the gaps' reception context needs of all vessels' traffic, summed so that groups
    of vessels can be summed apart and added (the Spark engine's events): ``presences``
    (:func:`presence_counts`) and ``cell_days`` (per ``cell`` and UTC ``day``: intervals ``n``
    starting there and gaps ``n_gap`` among them, :func:`cell_day_coverage`'s counts)."""

    presences: dict[str, np.ndarray]
    cell_days: dict[str, np.ndarray]


def gap_rate_from_sums(cell_days: dict[str, np.ndarray], q_t: np.ndarray, q_lat: np.ndarray, q_lon: np.ndarray,
                       cfg: Config) -> np.ndarray:
    """:func:`cell_day_coverage`'s gap rate of each query point's cell and UTC day, from
    :attr:`TrafficSums.cell_days`; NaN where no interval starts there."""
    rate = np.full(len(q_t), np.nan)
    if not len(q_t) or not len(cell_days["n"]):
        return rate
    key = np.asarray(cell_days["cell"], np.int64) * 100_000 + np.asarray(cell_days["day"], np.int64)
    order = np.argsort(key)
    key = key[order]
    q_key = cell_key(q_lat, q_lon, cfg.coverage_cell_deg) * 100_000 + np.asarray(q_t) // DAY_US
    pos = np.clip(np.searchsorted(key, q_key), 0, len(key) - 1)
    hit = key[pos] == q_key
    n, n_gap = np.asarray(cell_days["n"], np.int64)[order], np.asarray(cell_days["n_gap"], np.int64)[order]
    rate[hit] = (n_gap / n)[pos[hit]]
    return rate
