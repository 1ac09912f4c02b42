"""The ``darkvoyage`` command line: the pipeline commands (``tracks``, ``features``,
``watchlist``) and ``serve``; importing :mod:`serving.cli_training` and
:mod:`serving.cli_events` adds theirs to the same ``app``.

Exit status: 0 on success; 2 on bad usage or unreadable input, with one line on stderr and no
traceback; 1 on an internal error.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Annotated, Optional

import typer

from features.config import DEFAULT
from serving.cli_base import (load_coverage, Engine, GazOpt, Inputs, Master, Out, SetOpt, UsageProblem, Verbose, app, err_console,
                              parse_settings, print_counts, print_run, print_watchlist, setup_logging, stages,
                              user_errors, warn_outside_region)


@app.command()
def tracks(inputs: Inputs, out: Out, gazetteer: GazOpt = None, set_: SetOpt = None,
           engine: Engine = "local", spark_master: Master = None, verbose: Verbose = False):
    """Clean AIS, split shared MMSIs into tracks, find port visits and cut voyages."""
    setup_logging(verbose)
    with user_errors():
        from features.engine import engine as pick_engine
        from features.gazetteer import load_gazetteer
        cfg = parse_settings(set_)
        eng = pick_engine(engine, spark_master)
        eng.check_output(out)
        gaz = load_gazetteer(gazetteer)
        t0 = time.perf_counter()
        with stages() as stage:
            run = eng.tracks(inputs, out, gaz=gaz, cfg=cfg, stage=stage)
        warn_outside_region(run.tracks, gaz, cfg)
        print_run(run, t0)


@app.command()
def features(inputs: Inputs, out: Out, gazetteer: GazOpt = None,
             coverage: Annotated[Optional[Path], typer.Option(
                 "--coverage", help="Reference coverage grid (.parquet, as logged with a model); default: built from the inputs.")] = None,
             set_: SetOpt = None, engine: Engine = "local", spark_master: Master = None, verbose: Verbose = False):
    """One row per voyage: identity, times, ports and dark-activity features."""
    setup_logging(verbose)
    with user_errors():
        from features.engine import engine as pick_engine
        from features.gazetteer import load_gazetteer
        cfg = parse_settings(set_)
        eng = pick_engine(engine, spark_master)
        eng.check_output(out)
        gaz = load_gazetteer(gazetteer)
        grid = load_coverage(coverage)
        t0 = time.perf_counter()
        with stages() as stage:
            run = eng.features(inputs, out, gaz=gaz, cfg=cfg, coverage=grid, stage=stage)
        warn_outside_region(run.tracks, gaz, cfg)
        print_run(run, t0)


@app.command()
def watchlist(inputs: Inputs,
              out: Annotated[Path, typer.Option("--out", "-o", help="Output .csv, .parquet, .geojson or .html.")],
              top: Annotated[Optional[int], typer.Option(help="Keep the N riskiest vessels.", min=1)] = None,
              model: Annotated[Optional[str], typer.Option("--model", help="Model URI (default models:/voyage-risk@champion).")] = None,
              sanctions: Annotated[Optional[Path], typer.Option(help="CSV of sanctioned vessels (IMO, MMSI and/or name).")] = None,
              engine: Engine = "local", spark_master: Master = None,
              other_vessels: Annotated[bool, typer.Option("--other-vessels", help="Add encounters and dark rendezvous with other vessels to the reasons and maps (local engine; shown beside the risk, never in it).")] = False,
              verbose: Verbose = False):
    """Score every voyage and rank vessels by their riskiest voyage."""
    setup_logging(verbose)
    with user_errors():
        from serving.export import ExportError, check_suffix, match_sanctions, read_sanctions, write_watchlist
        from serving.scoring import score_files, watchlist as ranked
        from features.engine import engine as pick_engine
        from training.registry import load_model
        eng = pick_engine(engine, spark_master)
        if other_vessels and engine != "local":
            raise UsageProblem("--other-vessels needs --engine local (it joins every vessel's fixes)")
        try:
            check_suffix(out)
            sanc = read_sanctions(sanctions) if sanctions else None
        except ExportError as err:
            raise UsageProblem(str(err)) from None
        t0 = time.perf_counter()
        m, info = load_model(model)  # no model: ModelUnavailable, one line and exit 2 (user_errors)
        with stages() as stage:
            scored = score_files(inputs, m, DEFAULT, stage, eng, rejected_out=out)
            wl = ranked(scored.voyages, top, scored.no_voyage)
            if other_vessels:
                from serving.event_links import add_other_vessel_evidence
                stage("encounters and rendezvous")
                wl = add_other_vessel_evidence(wl, scored, DEFAULT)
            if out.suffix.lower() in (".geojson", ".html") and hasattr(eng, "listed_tracks"):
                scored.tracks = eng.listed_tracks(wl["track_id"])  # Spark: the listed vessels' fixes only
            if sanc is not None:
                wl["sanctions_match"] = match_sanctions(wl, scored.voyages, sanc)
                hit = wl["sanctions_match"] != ""
                wl.loc[hit, "reasons"] = wl.loc[hit, "reasons"] + "; on a sanctions list (" + wl.loc[hit, "sanctions_match"] + ")"
            stage("writing")
            write_watchlist(wl, scored, out, m.levels)
        warn_outside_region(scored.tracks, m.gaz, DEFAULT)
        print_watchlist(wl.head(10), f"watchlist (model {info['name']} v{info['version']})")
        print_counts(scored.counts, {"vessels listed": f"{len(wl):,} ({int((wl['level'] == 'high').sum())} high)",
                                     "voyages scored": f"{len(scored.voyages):,}",
                                     "seconds": f"{time.perf_counter() - t0:.1f}",
                                     "written": f"{out}  (rejected rows: {scored.rejected})"})


@app.command()
def serve(host: Annotated[str, typer.Option(help="Address to bind; 127.0.0.1 keeps it on this machine.")] = "127.0.0.1",
          port: Annotated[int, typer.Option(help="TCP port.", min=1, max=65535)] = 3000,
          model: Annotated[Optional[str], typer.Option("--model", help="Model URI (default models:/voyage-risk@champion).")] = None,
          store: Annotated[Optional[str], typer.Option("--store", help="The analysts' store (a SQLite file or a postgresql:// URL): also serve /alerts, /vessels/{mmsi}, /verdicts.")] = None,
          verbose: Verbose = False):
    """Start the REST service (BentoML): /score, /score_voyages, /watchlist, /model; with a
    store, the desk's /alerts, /vessels/{mmsi} and /verdicts too."""
    setup_logging(verbose)
    with user_errors():
        import os
        import shutil
        from training.registry import load_model
        _, info = load_model(model)  # refuse to start without a model, with the reason
        env = dict(os.environ)
        env.setdefault("BENTOML_DO_NOT_TRACK", "true")
        if model:
            env["DARKVOYAGE_MODEL_URI"] = model
        if store:
            from serving.desk.store import open_store, store_url
            open_store(store)  # refuse a bad store now, with the reason, not in the server's log
            env["DARKVOYAGE_STORE"] = store_url(store)
        from training.tracking import tracking_uri
        env["MLFLOW_TRACKING_URI"] = tracking_uri()
        exe = shutil.which("bentoml") or str(Path(sys.executable).parent / "bentoml")
        err_console.print(f"serving {info['name']} v{info['version']} on http://{host}:{port}", highlight=False)
        os.execvpe(exe, [exe, "serve", "serving.service:VoyageRisk", "--host", host, "--port", str(port)], env)


# After this module's commands, so `darkvoyage --help` lists the pipeline first.
from serving import cli_desk, cli_events, cli_training  # noqa: E402,F401 - they register their commands on app


def main():  # pragma: no cover - console-script entry point
    """Run the command, then leave without C++ static destructors: once in ~500 runs under
    load, a native library's worker thread still joinable at teardown aborted the process
    ("terminate called without an active exception", exit -6) after the command had answered.
    Python's own exit handlers (MLflow, Spark, logging) still run first."""
    import atexit
    from features.settings import apply_numpy_memory
    code = 0
    try:
        with user_errors():
            apply_numpy_memory()
        rv = app(standalone_mode=False)  # bad usage comes back here, said in one line below
        code = rv if isinstance(rv, int) else 0
    except typer.TyperException as bad:  # an unknown option, a missing --out: one line, exit 2
        if type(bad).__name__ == "NoArgsIsHelpError":  # a bare `darkvoyage analyst`: its help
            bad.show()
        else:
            _usage_line(bad)
        code = bad.exit_code
    except typer.Abort:
        code = 130
    except typer.Exit as bad:  # a variable darkvoyage cannot read: said in one line
        code = bad.exit_code
    except SystemExit as done:
        code = done.code if isinstance(done.code, int) else (0 if done.code is None else 1)
    atexit._run_exitfuncs()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _usage_line(err) -> None:
    """``darkvoyage: <command>: <what was wrong> (see --help)``, on stderr."""
    ctx = getattr(err, "ctx", None)
    command = ctx.command_path.removeprefix("darkvoyage").strip() if ctx is not None else ""
    where = f"{command}: " if command else ""
    err_console.print(f"darkvoyage: {where}{err.format_message()} (see --help)", markup=False, highlight=False,
                      soft_wrap=True)


if __name__ == "__main__":  # pragma: no cover
    main()
