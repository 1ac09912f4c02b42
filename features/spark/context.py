"""Across vessels: the coverage grid, each gap cell's live coverage that day and the
neighbours reporting during each gap, as Spark aggregations and joins over the keys both
engines compute (:func:`features.coverage.fix_keys`, :func:`features.coverage.gap_keys`).
Every sum is an integer count or microseconds, so it does not depend on Spark's order."""

from __future__ import annotations

import numpy as np

from ..config import Config
from ..coverage import CoverageGrid, gap_us
from ..geo import key_offset

def interval_sums(fixes, cfg: Config):
    """Per grid cell and UTC day, the intervals starting there: count ``_n``, gaps ``_ng`` and
    the summed length of the others ``_ok`` (us). One pass over the fixes feeds both the
    coverage grid (summed over days) and each gap cell's live coverage that day."""
    from pyspark.sql import functions as F
    gap = F.col("_next_dt_us") > F.lit(gap_us(cfg))
    return (fixes.where(F.col("_next_dt_us") >= 0).groupBy("_cell", "_day")
            .agg(F.count(F.lit(1)).alias("_n"), F.sum(gap.cast("long")).alias("_ng"),
                 F.sum(F.when(gap, 0).otherwise(F.col("_next_dt_us"))).alias("_ok")))

def coverage_grid(sums, cfg: Config) -> CoverageGrid:
    """The reference grid from :func:`interval_sums`: per cell, intervals, gaps, non-gap time."""
    from pyspark.sql import functions as F
    rows = sums.groupBy("_cell").agg(*[F.sum(c).alias(c) for c in ("_n", "_ng", "_ok")]).toPandas()
    if rows.empty:
        return CoverageGrid.empty(cfg)
    return CoverageGrid.from_sums(rows["_cell"].to_numpy(), rows["_n"].to_numpy(), rows["_ng"].to_numpy(),
                                  rows["_ok"].to_numpy(np.int64), cfg)

def live_context(voyages, fixes, sums, cfg: Config):
    """Fill the ``ctx_*`` columns with joins: neighbours' presences in the 3x3 cells around each
    longest gap's start over the buckets inside it, and the gap cell's coverage that day.
    The arithmetic is :func:`features.coverage.neighbour_values` and ``mean_interval_s``."""
    from pyspark.sql import functions as F

    r = cfg.neighbour_cells
    offsets = [int(key_offset(0, di, dj, cfg.coverage_cell_deg)) for di in range(-r, r + 1) for dj in range(-r, r + 1)]
    pres = fixes.where("_presence").groupBy("_cell", "_bucket").agg(F.count(F.lit(1)).alias("_p"))
    gaps = (voyages.where(F.col("_g_cell").isNotNull() & (F.col("_g_last_b") >= F.col("_g_first_b")))
            .select("voyage_id", "_g_first_b", "_g_last_b",
                    F.explode(F.array(*[F.col("_g_cell") + F.lit(o) for o in offsets])).alias("_c")))
    # Every offset cell counts, repeats included, exactly as the local sum over the 3x3 offsets.
    total = (gaps.join(pres, (gaps["_c"] == pres["_cell"]) & pres["_bucket"].between(gaps["_g_first_b"], gaps["_g_last_b"]))
             .groupBy("voyage_id").agg(F.sum("_p").alias("_total")))
    day = sums.withColumnRenamed("_cell", "_g_cell").withColumnRenamed("_day", "_g_day")
    v = voyages.join(total, "voyage_id", "left").join(day, ["_g_cell", "_g_day"], "left")
    h = float(cfg.coverage_bucket_h)
    nan = F.lit(float("nan"))
    has = F.col("_g_cell").isNotNull()
    n_b = F.col("_g_last_b") - F.col("_g_first_b") + 1
    tot = F.coalesce(F.col("_total"), F.lit(0)).cast("double")
    ok = (F.col("_n") - F.col("_ng"))
    return (v.withColumn("ctx_neighbour_vessel_h", F.when(has & (n_b > 0), tot * h).otherwise(nan))
            .withColumn("ctx_neighbours_per_h", F.when(has & (n_b > 0), tot / (n_b.cast("double") * h)).otherwise(nan))
            .withColumn("ctx_cell_day_gap_rate", F.when(has & F.col("_n").isNotNull(),
                                                        F.col("_ng").cast("double") / F.col("_n").cast("double")).otherwise(nan))
            .withColumn("ctx_cell_day_interval_s", F.when(has & (ok > 0),
                                                          F.col("_ok").cast("double") / (ok.cast("double") * 1e6)).otherwise(nan)))

