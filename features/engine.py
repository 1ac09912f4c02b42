"""One interface to the pipeline, two engines.

Every command, training, the service and the benchmarks reach the pipeline through an
:class:`Engine`: ``tracks`` and ``features`` write the contract's outputs, ``events`` finds
the event table and ``identities`` the identity links (local engine only), ``score`` gives every voyage a model's risk and reasons. :class:`LocalEngine` runs it in this process,
vectorised over all vessels at once; the Spark engine (:mod:`features.spark`) runs the same
per-vessel functions per MMSI bucket on a cluster and gives the same answers. Pick one with
:func:`engine`.

The engines know nothing of models: ``score`` takes a *scorer*, a function from a voyage
table to the same table with ``risk``, ``level``, ``reasons``, ``reasons_text`` and
``partial`` added (``serving.scoring.scorer`` makes one from a model). A scorer must pickle,
so that Spark can broadcast it to its workers.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol

import pandas as pd

from .config import DEFAULT, FEATURE_CODE_VERSION, Config
from .coverage import CoverageGrid
from .errors import ConfigError
from .gazetteer import Gazetteer, load_gazetteer
from .pipeline import Run, Stage, TrackResult, jumps_of, no_stage
from .readers import ReadResult

#: Voyage table -> the same rows with risk, level, reasons, reasons_text and partial.
Scorer = Callable[[pd.DataFrame], pd.DataFrame]
#: Input files, or rows already read (a REST request).
Inputs = Sequence[str | Path] | ReadResult


class Engine(Protocol):
    name: str

    def check_output(self, out: str | Path) -> str | Path:
        """``out`` if this engine can write there, else :class:`OutputError` (before any work)."""

    def tracks(self, inputs: Inputs, out: str | Path, *, gaz: Gazetteer | None = None, cfg: Config = DEFAULT,
               stage: Stage = no_stage) -> Run:
        """Accepted fixes with track, voyage and port ids to ``out``; rejected rows beside it."""

    def features(self, inputs: Inputs, out: str | Path | None = None, *, gaz: Gazetteer | None = None, cfg: Config = DEFAULT,
                 coverage: CoverageGrid | None = None, stage: Stage = no_stage) -> Run:
        """The voyage table (``Run.voyages``), written to ``out`` when given."""

    def events(self, inputs: Inputs, *, gaz: Gazetteer | None = None, cfg: Config = DEFAULT,
               coverage: CoverageGrid | None = None, stage: Stage = no_stage, rejected_out: str | None = None) -> Run:
        """The event table (``Run.events``, contract columns) of the inputs: gaps, port
        visits, loitering, possible dark port calls, encounters, dark rendezvous and the
        identity kinds; with ``rejected_out`` the rejected rows are written to its
        ``.rejected.csv`` (``figures["rejected"]``: that path)."""

    def identities(self, inputs: Inputs, *, gaz: Gazetteer | None = None, cfg: Config = DEFAULT,
                   stage: Stage = no_stage) -> Run:
        """The identity links (``Run.identities``, contract columns) of the inputs: one hull's
        old -> new MMSI, with evidence, confidence, level and chain."""

    def score(self, inputs: Inputs, scorer: Scorer, *, gaz: Gazetteer | None = None, cfg: Config = DEFAULT,
              coverage: CoverageGrid | None = None, stage: Stage = no_stage, rejected_out: str | None = None) -> Run:
        """Every voyage scored by ``scorer`` (``Run.voyages``), the tracks without one and the
        identity links (``Run.identities``); with ``rejected_out`` the rejected rows are
        written to its ``.rejected.csv`` (``figures["rejected"]``: that path)."""


class LocalEngine:
    """The pipeline in this process (:mod:`features.pipeline`)."""

    name = "local"

    def check_output(self, out):
        from .io import check_output
        return check_output(out)

    def tracks(self, inputs, out, *, gaz=None, cfg=DEFAULT, stage=no_stage) -> Run:
        from .io import check_output, track_positions_table, write_rejected, write_table
        out, gaz = check_output(out), gaz or load_gazetteer()
        tr = self.tracked(inputs, gaz, cfg, stage, keep_all=True)
        stage("writing")
        table = track_positions_table(tr, gaz)
        write_table(table, out, tr.counts, {"config": cfg.to_dict(), "re_decoded": tr.counts.re_decoded})
        rej = write_rejected(tr.rejected, out)
        return Run(tr.counts, str(out), {"tracks": table["track_id"].nunique(), "voyages": table["voyage_id"].nunique(),
                                         "port visits": len(tr.visits), "rejected": str(rej)}, tracks=tr)

    def features(self, inputs, out=None, *, gaz=None, cfg=DEFAULT, coverage=None, stage=no_stage) -> Run:
        from .io import check_output, write_rejected, write_table
        if out is not None:
            out = check_output(out)
        tr, grid, voyages = self._voyage_table(inputs, gaz or load_gazetteer(), cfg, coverage, stage)
        figures = {"voyages": len(voyages),
                   f"with a gap >= {cfg.summary_gap_h:g} h": int((voyages["max_gap_h"] >= cfg.summary_gap_h).sum())}
        if out is not None:
            stage("writing")
            write_table(voyages, out, tr.counts, {"config": cfg.to_dict(), "feature_code_version": FEATURE_CODE_VERSION,
                                                  "re_decoded": tr.counts.re_decoded})
            figures["rejected"] = str(write_rejected(tr.rejected, out))
        return Run(tr.counts, None if out is None else str(out), figures, voyages=voyages, tracks=tr, coverage=grid)

    def events(self, inputs, *, gaz=None, cfg=DEFAULT, coverage=None, stage=no_stage, rejected_out=None) -> Run:
        from .events import EVENT_KINDS, detect_events
        from .io import write_rejected
        from .pipeline import jumps_of
        gaz = gaz or load_gazetteer()
        tr = self.tracked(inputs, gaz, cfg, stage)
        stage("events")
        ev = detect_events(tr.positions, tr.visits, gaz, cfg, coverage, jumps=jumps_of(tr))
        n = ev["kind"].value_counts()
        figures = {f"events: {k}": int(n.get(k, 0)) for k in EVENT_KINDS}
        if rejected_out is not None:
            figures["rejected"] = str(write_rejected(tr.rejected, rejected_out))
        return Run(tr.counts, None, figures, tracks=tr, events=ev)

    def identities(self, inputs, *, gaz=None, cfg=DEFAULT, stage=no_stage) -> Run:
        from .identity import link_identities
        tr = self.tracked(inputs, gaz or load_gazetteer(), cfg, stage)
        stage("identity links")
        links = link_identities(tr.positions, cfg)
        n = links["level"].value_counts()
        return Run(tr.counts, None, {"links: likely": int(n.get("likely", 0)), "links: possible": int(n.get("possible", 0)),
                                     "chains": links["chain_id"].nunique()}, tracks=tr, identities=links)

    # The two halves of ``features``, for work that needs the tracks in between (training
    # builds one coverage grid from the tracks of several scenarios).

    def tracked(self, inputs: Inputs, gaz: Gazetteer, cfg: Config = DEFAULT, stage: Stage = no_stage,
                keep_all: bool = False) -> TrackResult:
        """Read, validate and track in memory. ``keep_all``: carry every input column (the
        ``tracks`` output); else only what the voyage features read."""
        from .pipeline import run_tracks, tracks_from_raw
        if isinstance(inputs, ReadResult):
            return tracks_from_raw(inputs, gaz, cfg, stage, keep_all)
        return run_tracks(inputs, gaz, cfg, stage, keep_all)

    def voyages(self, tr: TrackResult, gaz: Gazetteer, cfg: Config = DEFAULT, coverage: CoverageGrid | None = None,
                stage: Stage = no_stage, live_context: bool = True) -> pd.DataFrame:
        """The voyage table of tracked fixes; ``live_context``: fill the ``ctx_*`` columns from
        every vessel's traffic (descriptive; training, which does not need them, skips it)."""
        from .pipeline import add_live_context, vessel_voyages
        stage("voyage features")
        voyages = vessel_voyages(tr.positions, gaz, cfg, coverage)
        if live_context:
            stage("neighbours during gaps")
            voyages = add_live_context(voyages, tr.positions, cfg)
        return voyages

    def _voyage_table(self, inputs, gaz, cfg, coverage, stage):
        """(tracks, coverage grid, voyage table): ``coverage`` if given, else built from the
        inputs' own fixes."""
        from .pipeline import build_coverage
        tr = self.tracked(inputs, gaz, cfg, stage)
        if coverage is None:
            stage("coverage grid")
            coverage = build_coverage(tr.positions, cfg)
        return tr, coverage, self.voyages(tr, gaz, cfg, coverage, stage)

    def score(self, inputs, scorer, *, gaz=None, cfg=DEFAULT, coverage=None, stage=no_stage, rejected_out=None) -> Run:
        from .io import write_rejected
        from .no_voyage import tracks_without_voyage
        gaz = gaz or load_gazetteer()
        tr, coverage, voyages = self._voyage_table(inputs, gaz, cfg, coverage, stage)
        stage("scoring")
        voyages = scorer(voyages if voyages.index.equals(pd.RangeIndex(len(voyages))) else voyages.reset_index(drop=True))
        nv = tracks_without_voyage(tr.positions, voyages, gaz)
        stage("identity links")
        from .identity import identity_evidence
        links, hull = identity_evidence(tr.positions, cfg, jumps_of(tr))
        figures = {"voyages scored": len(voyages)}
        if rejected_out is not None:
            figures["rejected"] = str(write_rejected(tr.rejected, rejected_out))
        return Run(tr.counts, None, figures, voyages=voyages, no_voyage=nv, tracks=tr,
                   coverage=coverage, identities=links, hull_events=hull)


ENGINES = ("local", "spark")


def engine(name: str = "local", master: str | None = None) -> Engine:
    """The engine called ``name``; ``master`` (Spark only) is a master URL such as ``local[4]``
    or ``spark://host:7077`` (default: ``spark-submit``'s, else ``local[*]``)."""
    if name not in ENGINES:
        raise ConfigError(f"--engine {name!r}: expected {' or '.join(ENGINES)}")
    if name == "local":
        if master:
            raise ConfigError("--spark-master needs --engine spark")
        return LocalEngine()
    from .spark import SparkEngine
    from .spark.session import require_pyspark
    require_pyspark()
    return SparkEngine(master)
