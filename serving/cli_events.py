"""``darkvoyage events``, ``darkvoyage report`` (issue #14) and ``darkvoyage identities``
(issue #23). Registered on the main app by
importing it from :mod:`serving.cli`; the conventions (one-line errors, exit 2, stages,
row counts) are that module's."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Optional

import typer

from serving.cli_base import (load_coverage, Engine, GazOpt, Inputs, Master, SetOpt, Verbose, app, parse_settings,
                              print_counts, setup_logging, stages, user_errors, warn_outside_region)

CoverageOpt = Annotated[Optional[Path], typer.Option(
    "--coverage", help="Reference coverage grid (.parquet, as logged with a model): its gap rate goes into each gap's detail.")]


def _events_of(inputs, gazetteer, set_, coverage, stage, rejected_out=None):
    """Tracks then events of the inputs (the engine's run: its rejected rows to
    ``rejected_out``'s ``.rejected.csv``), the gazetteer and the config."""
    from features.engine import LocalEngine
    from features.gazetteer import load_gazetteer
    cfg = parse_settings(set_)
    gaz = load_gazetteer(gazetteer)
    grid = load_coverage(coverage)
    return LocalEngine().events(inputs, gaz=gaz, cfg=cfg, coverage=grid, stage=stage, rejected_out=rejected_out), gaz, cfg


def _kind_counts(events) -> dict:
    from features.events import EVENT_KINDS, dark_mask
    n = events["kind"].value_counts()
    rows = {f"events: {k}": f"{int(n.get(k, 0)):,}" for k in EVENT_KINDS}
    gaps = events[events["kind"] == "gap"]
    rows["gaps: two ships on one MMSI (not dark)"] = f"{int((~dark_mask(gaps)).sum()):,}"
    return rows


@app.command()
def identities(inputs: Inputs,
               out: Annotated[Path, typer.Option("--out", "-o", help="Output .csv, .parquet or .geojson.")],
               gazetteer: GazOpt = None, set_: SetOpt = None, verbose: Verbose = False):
    """Links one hull's identities across MMSIs (old -> new): where and when the new one
    appeared, IMO / name / call sign agreement, competing candidates, a confidence, a level
    (likely / possible) and a chain id across several changes."""
    setup_logging(verbose)
    with user_errors():
        from features.engine import LocalEngine
        from features.gazetteer import load_gazetteer
        from features.io import check_output, write_rejected
        from serving.event_export import EVENT_SUFFIXES, write_identities
        check_output(out, EVENT_SUFFIXES, "identities output")
        cfg = parse_settings(set_)
        t0 = time.perf_counter()
        gaz = load_gazetteer(gazetteer)
        with stages() as stage:
            run = LocalEngine().identities(inputs, gaz=gaz, cfg=cfg, stage=stage)
            stage("writing")
            write_identities(run.identities, out, run.counts, {"config": cfg.to_dict()})
            rej = write_rejected(run.tracks.rejected, out)
        warn_outside_region(run.tracks, gaz, cfg)
        print_counts(run.counts, {**{k: f"{v:,}" for k, v in run.figures.items()},
                                  "seconds": f"{time.perf_counter() - t0:.1f}", "written": f"{out}  (rejected rows: {rej})"})


@app.command()
def events(inputs: Inputs,
           out: Annotated[Path, typer.Option("--out", "-o", help="Output .csv, .parquet or .geojson.")],
           gazetteer: GazOpt = None, coverage: CoverageOpt = None, set_: SetOpt = None, engine: Engine = "local",
           spark_master: Master = None, verbose: Verbose = False):
    """One row per event: gaps, port visits, loitering, possible dark port calls, encounters,
    dark rendezvous, identity changes, shared MMSIs and spoofing."""
    setup_logging(verbose)
    with user_errors():
        from features.engine import engine as pick_engine
        from features.gazetteer import load_gazetteer
        from serving.event_export import check_events_output, write_events
        check_events_output(out)
        cfg = parse_settings(set_)
        eng = pick_engine(engine, spark_master)
        gaz, grid = load_gazetteer(gazetteer), load_coverage(coverage)
        t0 = time.perf_counter()
        with stages() as stage:
            run = eng.events(inputs, gaz=gaz, cfg=cfg, coverage=grid, stage=stage, rejected_out=out)
            stage("writing")
            write_events(run.events, out, run.counts, {"config": cfg.to_dict(), "engine": eng.name})
        warn_outside_region(run.tracks, gaz, cfg)
        print_counts(run.counts, {**_kind_counts(run.events), "seconds": f"{time.perf_counter() - t0:.1f}",
                                  "written": f"{out}  (rejected rows: {run.figures['rejected']})"})


@app.command()
def report(inputs: Inputs,
           out: Annotated[Path, typer.Option("--out", "-o", help="Output .html; the numbers go to the .csv beside it.")],
           gazetteer: GazOpt = None, set_: SetOpt = None, verbose: Verbose = False):
    """Weekly and monthly counts of long gaps, possible dark port calls, encounters and
    rendezvous, by flag and by area: an offline HTML page of charts and a CSV of the numbers."""
    setup_logging(verbose)
    with user_errors():
        from features.io import counts_meta, write_meta_beside
        from serving.report import check_report_output, write_report
        csv = check_report_output(out)
        t0 = time.perf_counter()
        with stages() as stage:
            run, gaz, cfg = _events_of(inputs, gazetteer, set_, None, stage, rejected_out=out)
            stage("writing")
            write_report(run.events, gaz, cfg, out, [str(p) for p in inputs])
            write_meta_beside(out, counts_meta(run.counts))
        warn_outside_region(run.tracks, gaz, cfg)
        print_counts(run.counts, {**_kind_counts(run.events), "seconds": f"{time.perf_counter() - t0:.1f}",
                                  "written": f"{out}  (numbers: {csv}; rejected rows: {run.figures['rejected']})"})
