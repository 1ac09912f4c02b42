"""Training inputs: one or more labelled scenarios, each its positions and its label file.

A scenario is what one simulation run, or one analyst's labelling campaign, produced: its
MMSIs are its own, so the same MMSI in two scenarios is two different vessels. Voyages carry a
``scenario`` number and a ``vessel_group`` (scenario and MMSI in one integer) that the splits
and the bootstrap group by.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from features.config import Config
from features.coverage import CoverageGrid
from features.errors import DarkvoyageError
from features.gazetteer import Gazetteer
from features.engine import LocalEngine
from features.pipeline import TrackResult
from features.tracks import epoch_us, group_starts

from .labels import assign_labels, read_labels

log = logging.getLogger(__name__)

#: A scenario folder holds these (``darkvoyage simulate --out DIR`` writes them).
POSITIONS_FILE = "positions.parquet"
LABELS_FILE = "labels.csv"
WORLD_FILE = "world.json"
#: MMSIs are below 10^9 (ship stations 2xx-7xx million), so scenario * 10^9 + mmsi is unique.
_GROUP_BASE = 1_000_000_000


class ScenarioError(DarkvoyageError):
    """Training inputs that do not pair up or cannot be used; one line, naming the input."""


@dataclass(frozen=True)
class ScenarioInput:
    """One labelled scenario: its position files (read together) and its label file."""

    positions: tuple[Path, ...]
    labels: Path

    @property
    def name(self) -> str:
        return str(self.positions[0]) if len(self.positions) == 1 else f"{self.positions[0]} (+{len(self.positions) - 1})"


@dataclass
class ScenarioTable:
    """A scenario's tracks, labels and labelled voyage table (all voyages, ``y`` NaN where
    unlabelled)."""

    source: ScenarioInput
    tracks: TrackResult
    labels: pd.DataFrame
    voyages: pd.DataFrame


def _in_folder(path: Path, name: str) -> Path:
    return path / name if path.is_dir() else path


def pair_inputs(positions: list, labels: list | None) -> list[ScenarioInput]:
    """Pair ``--positions``/``--labels`` in order. A positions folder holds ``positions.parquet``
    and, when its ``--labels`` is left out, ``labels.csv``. Labels left out altogether: every
    positions argument must be such a folder. Raises :class:`ScenarioError` on a count
    mismatch or a missing file."""
    positions = [Path(p) for p in positions]
    labels = [Path(p) for p in (labels or [])]
    if not positions:
        raise ScenarioError("no --positions given")
    if labels and len(labels) != len(positions):
        raise ScenarioError(f"{len(positions)} --positions but {len(labels)} --labels: give one label file per "
                            "positions file (in the same order), or scenario folders holding labels.csv")
    out = []
    for i, p in enumerate(positions):
        pos = _in_folder(p, POSITIONS_FILE)
        if not pos.exists():  # first: a mistyped path is the problem, not its missing --labels
            raise ScenarioError(f"{pos}: no such positions file" + ("" if p.is_dir() else " or scenario folder"))
        lab = labels[i] if labels else (p / LABELS_FILE if p.is_dir() else None)
        if lab is None:
            raise ScenarioError(f"{p}: a positions file needs its --labels (only a scenario folder brings its own)")
        if not lab.exists():
            raise ScenarioError(f"{lab}: no such label file")
        out.append(ScenarioInput((pos,), lab))
    return out


def world_seed_of(positions: Path) -> int | None:
    """The world seed recorded in the ``world.json`` beside a scenario's positions, if any."""
    f = Path(positions).parent / WORLD_FILE
    if not f.is_file():
        return None
    try:
        data = json.loads(f.read_text())
    except (OSError, json.JSONDecodeError):
        return None
    seed = data.get("world_seed", (data.get("world") or {}).get("world_seed") if isinstance(data.get("world"), dict) else None)
    return int(seed) if seed is not None else None


def check_not_reserved(sources: list[ScenarioInput], reserved: int) -> None:
    """Refuse a training scenario simulated in the reference world (it would train on the very
    world the reference set measures)."""
    for s in sources:
        for p in s.positions:
            if world_seed_of(p) == reserved:
                raise ScenarioError(f"{p}: simulated with the reserved reference world seed {reserved}; "
                                    "training on it would leak into the reference set (use another --world-seed)")


def scenario_table(source: ScenarioInput, gaz: Gazetteer, cfg: Config, grid: CoverageGrid | None = None,
                   stage=lambda s: None) -> ScenarioTable:
    """Tracks, labels and the labelled voyage table of one scenario. ``grid``: the coverage
    grid for the coverage features (default: built from this scenario's own fixes)."""
    stage("features")
    eng = LocalEngine()
    tr = eng.tracked(list(source.positions), gaz, cfg, stage)
    grid = grid if grid is not None else coverage_grid([tr], cfg)
    voyages = eng.voyages(tr, gaz, cfg, grid, live_context=False)
    stage("labels")
    labels = read_labels(source.labels)
    return ScenarioTable(source, tr, labels, assign_labels(voyages, labels))


def coverage_grid(tracks: list[TrackResult], cfg: Config) -> CoverageGrid:
    """One coverage grid from the fixes of every scenario together. Track numbers restart in
    each scenario, so each scenario's tracks get their own id range: no interval ever spans
    two scenarios (same as ``features.pipeline.build_coverage`` for one)."""
    tids, ts, lats, lons = [], [], [], []
    offset = 0
    for tr in tracks:
        p = tr.positions
        tid = np.cumsum(group_starts(p["mmsi"].to_numpy(np.int64), p["track_no"].to_numpy())) - 1 + offset
        offset = int(tid[-1]) + 1 if len(tid) else offset
        tids.append(tid)
        ts.append(epoch_us(p["timestamp"]))
        lats.append(p["lat"].to_numpy(float))
        lons.append(p["lon"].to_numpy(float))
    if not tids:
        return CoverageGrid.empty(cfg)
    return CoverageGrid.build(np.concatenate(tids), np.concatenate(ts), np.concatenate(lats),
                              np.concatenate(lons), cfg)


def combined_tables(sources: list[ScenarioInput], gaz: Gazetteer, cfg: Config, stage=lambda s: None):
    """(tables, grid, voyages): every scenario's table, the coverage grid of all training
    fixes, and all labelled-or-not voyages concatenated with ``scenario`` and
    ``vessel_group``; the coverage features are those of the shared grid."""
    stage("features")
    eng = LocalEngine()
    tracks = [eng.tracked(list(s.positions), gaz, cfg, stage) for s in sources]
    grid = coverage_grid(tracks, cfg)
    tables, parts = [], []
    stage("labels")
    for i, (s, tr) in enumerate(zip(sources, tracks)):
        labels = read_labels(s.labels)
        v = assign_labels(eng.voyages(tr, gaz, cfg, grid, live_context=False), labels)
        v.insert(0, "scenario", i)
        v["vessel_group"] = i * _GROUP_BASE + v["mmsi"].to_numpy(np.int64)
        tables.append(ScenarioTable(s, tr, labels, v))
        parts.append(v)
    return tables, grid, pd.concat(parts, ignore_index=True)
