"""The ``darkvoyage`` command line.

Exit status: 0 on success; 2 on bad usage or unreadable input, with one line on stderr and no
traceback; 1 on an internal error.
"""

from __future__ import annotations

import dataclasses
import logging
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.logging import RichHandler
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from features.config import DEFAULT, Config
from features.errors import DarkvoyageError

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="darkvoyage: AIS gaps, voyages and dark-port-call risk for Caspian shipping.")
out_console = Console()
err_console = Console(stderr=True)
log = logging.getLogger("darkvoyage")


class UsageProblem(DarkvoyageError):
    """Bad usage or unreadable input: reported in one line, exit status 2."""


def _fail(msg: str, code: int = 2):
    err_console.print(f"darkvoyage: {msg}", markup=False, highlight=False, soft_wrap=True)
    raise typer.Exit(code)


@contextmanager
def user_errors():
    """Turn the library's input errors into one line and exit 2; bugs into one line and exit 1."""
    from features.errors import DarkvoyageError
    try:
        yield
    except (DarkvoyageError, UsageProblem) as err:
        _fail(str(err))
    except typer.Exit:
        raise
    except KeyboardInterrupt:
        _fail("interrupted", 130)
    except Exception as err:  # noqa: BLE001 - last resort: one line, details in the log
        log.debug("internal error", exc_info=True)
        _fail(f"internal error: {type(err).__name__}: {err} (run with --verbose for details)", 1)


@contextmanager
def stages():
    """A spinner naming the current stage, on a terminal only; yields ``stage(name)``."""
    if not err_console.is_terminal:
        yield lambda name: log.info("%s ...", name)
        return
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
                  console=err_console, transient=True) as progress:
        task = progress.add_task("starting", total=None)
        yield lambda name: progress.update(task, description=name)


def parse_settings(settings: list[str] | None) -> Config:
    """``--set gap_hours=2`` -> Config; every field of :class:`features.config.Config` can be set."""
    cfg = DEFAULT
    fields = {f.name: f for f in dataclasses.fields(Config)}
    for item in settings or []:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or key not in fields:
            raise UsageProblem(f"--set {item!r}: expected NAME=VALUE with NAME one of {', '.join(fields)}")
        current = getattr(DEFAULT, key)
        try:
            if isinstance(current, tuple):
                parsed = tuple(float(x) for x in value.split(","))
            elif isinstance(current, bool):
                parsed = value.lower() in ("1", "true", "yes")
            elif isinstance(current, int):
                parsed = int(value)
            elif value.lower() == "none":
                parsed = None
            else:
                parsed = float(value)
        except ValueError:
            raise UsageProblem(f"--set {key}: {value!r} is not a valid value") from None
        cfg = cfg.with_(**{key: parsed})
    return cfg


def _setup_logging(verbose: bool):
    import os
    import warnings
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, format="%(message)s",
                        handlers=[RichHandler(console=err_console, show_path=False)], force=True)
    # MLflow narrates every artifact download and its own environment inference; operators
    # see our stage names instead unless they ask for --verbose.
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    if not verbose:
        os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "ERROR")  # read when mlflow is imported
        logging.getLogger("alembic").setLevel(logging.ERROR)
        warnings.filterwarnings("ignore", module="mlflow")


def _print_counts(counts, extra: dict):
    t = Table(title="rows", show_header=False, box=None)
    t.add_row("read", f"{counts.read:,}")
    t.add_row("positions", f"{counts.positions:,}")
    t.add_row("static (identity only)", f"{counts.static:,}")
    for reason, n in sorted(counts.rejected.items(), key=lambda kv: -kv[1]):
        t.add_row(f"rejected: {reason}", f"{n:,}")
    for k, v in extra.items():
        t.add_row(k, v)
    out_console.print(t)


def _print_run(run, t0: float, extra: dict | None = None) -> None:
    """An engine run's row counts and figures, its time and where it wrote."""
    figures = {k: (f"{v:,}" if isinstance(v, int) else str(v)) for k, v in run.figures.items() if k != "rejected"}
    figures.update(extra or {})
    figures["seconds"] = f"{time.perf_counter() - t0:.1f}"
    if run.out:
        figures["written"] = f"{run.out}  (rejected rows: {run.figures['rejected']})"
    _print_counts(run.counts, figures)


Inputs = Annotated[list[Path], typer.Argument(help="AIS files: CSV, Parquet, NDJSON (.gz too) or NMEA.", show_default=False)]
Out = Annotated[str, typer.Option("--out", "-o", help="Output .parquet (or .csv); with --engine spark also a folder ending in / or a URI.")]
GazOpt = Annotated[Optional[Path], typer.Option("--gazetteer", help="Port list CSV (default: the curated Caspian list).")]
SetOpt = Annotated[Optional[list[str]], typer.Option("--set", help="Override a threshold, e.g. --set gap_hours=2 (repeatable).")]
Verbose = Annotated[bool, typer.Option("--verbose", "-v", help="Log each stage.")]
Engine = Annotated[str, typer.Option("--engine", help="local (one machine) or spark (PySpark; `uv sync --extra spark`).")]
Master = Annotated[Optional[str], typer.Option("--spark-master", help="Spark master URL (local[4], spark://host:7077, yarn); default: spark-submit's, else local[*].")]


@app.command()
def tracks(inputs: Inputs, out: Out, gazetteer: GazOpt = None, set_: SetOpt = None,
           engine: Engine = "local", spark_master: Master = None, verbose: Verbose = False):
    """Clean AIS, split shared MMSIs into tracks, find port visits and cut voyages."""
    _setup_logging(verbose)
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
        _print_run(run, t0)


@app.command()
def features(inputs: Inputs, out: Out, gazetteer: GazOpt = None,
             coverage: Annotated[Optional[Path], typer.Option(
                 "--coverage", help="Reference coverage grid (.parquet, as logged with a model); default: built from the inputs.")] = None,
             set_: SetOpt = None, engine: Engine = "local", spark_master: Master = None, verbose: Verbose = False):
    """One row per voyage: identity, times, ports and dark-activity features."""
    _setup_logging(verbose)
    with user_errors():
        from features.coverage import CoverageGrid
        from features.engine import engine as pick_engine
        from features.gazetteer import load_gazetteer
        cfg = parse_settings(set_)
        eng = pick_engine(engine, spark_master)
        eng.check_output(out)
        gaz = load_gazetteer(gazetteer)
        grid = None
        if coverage is not None:
            if not coverage.exists():
                raise UsageProblem(f"{coverage}: no such coverage grid")
            grid = CoverageGrid.load(coverage)
        t0 = time.perf_counter()
        with stages() as stage:
            run = eng.features(inputs, out, gaz=gaz, cfg=cfg, coverage=grid, stage=stage)
        _print_run(run, t0)


@app.command()
def train(positions: Annotated[list[Path], typer.Option("--positions", help="AIS positions of one scenario (any reader format), or a scenario folder with positions.parquet and labels.csv; repeat for more scenarios.")],
          labels: Annotated[Optional[list[Path]], typer.Option("--labels", help="Label CSV (mmsi, start, end, label), one per --positions, in order; optional for scenario folders.")] = None,
          reference: Annotated[Optional[tuple[Path, Path]], typer.Option("--reference", metavar="POSITIONS LABELS", help="Your own reference set (positions and labels) instead of the stored simulated one.")] = None,
          experiment: Annotated[str, typer.Option(help="MLflow experiment.")] = "voyage-risk",
          search: Annotated[int, typer.Option(help="Hyperparameter trials (optuna), 0 = none.", min=0)] = 0,
          promote: Annotated[str, typer.Option(help="auto: only if significantly better than the champion on the reference set; force; never.")] = "auto",
          seed: Annotated[int, typer.Option(help="Split and model seed.")] = 0,
          gazetteer: GazOpt = None, verbose: Verbose = False):
    """Fit, evaluate on the reference set, log to MLflow, register; promote to champion only if
    significantly better on the reference set."""
    _setup_logging(verbose)
    with user_errors():
        from features.gazetteer import load_gazetteer
        from training.labels import LabelError
        from training.scenarios import ScenarioError, pair_inputs
        from training.train import TrainConfig, TrainingError, summary_rows, train as run_train
        if promote not in ("auto", "force", "never"):
            raise UsageProblem(f"--promote must be auto, force or never, not {promote!r}")
        t0 = time.perf_counter()
        try:
            sources = pair_inputs(positions, labels)
            if reference is not None and reference[0] is not None:
                pair_inputs([reference[0]], [reference[1]])  # both files there, before any work
            else:
                reference = None
            with stages() as stage:
                s = run_train(sources, None, experiment, search, promote, TrainConfig(seed=seed),
                              gaz=load_gazetteer(gazetteer), stage=stage, reference=reference)
        except (LabelError, TrainingError, ScenarioError) as err:
            raise UsageProblem(str(err)) from None
        _table("training", {**summary_rows(s), "seconds": f"{time.perf_counter() - t0:.1f}"})


@app.command()
def watchlist(inputs: Inputs,
              out: Annotated[Path, typer.Option("--out", "-o", help="Output .csv, .parquet, .geojson or .html.")],
              top: Annotated[Optional[int], typer.Option(help="Keep the N riskiest vessels.", min=1)] = None,
              model: Annotated[Optional[str], typer.Option("--model", help="Model URI (default models:/voyage-risk@champion).")] = None,
              sanctions: Annotated[Optional[Path], typer.Option(help="CSV of sanctioned vessels (IMO, MMSI and/or name).")] = None,
              engine: Engine = "local", spark_master: Master = None, verbose: Verbose = False):
    """Score every voyage and rank vessels by their riskiest voyage."""
    _setup_logging(verbose)
    with user_errors():
        from serving.export import ExportError, check_suffix, match_sanctions, read_sanctions, write_watchlist
        from serving.scoring import score_files, watchlist as ranked
        from features.engine import engine as pick_engine
        from training.registry import ModelUnavailable, load_model
        eng = pick_engine(engine, spark_master)
        try:
            check_suffix(out)
            sanc = read_sanctions(sanctions) if sanctions else None
        except ExportError as err:
            raise UsageProblem(str(err)) from None
        t0 = time.perf_counter()
        try:
            m, info = load_model(model)
        except ModelUnavailable as err:
            raise UsageProblem(str(err)) from None
        with stages() as stage:
            scored = score_files(inputs, m, DEFAULT, stage, eng)
            wl = ranked(scored.voyages, top, scored.no_voyage)
            if out.suffix.lower() in (".geojson", ".html") and hasattr(eng, "listed_tracks"):
                scored.tracks = eng.listed_tracks(wl["track_id"])  # Spark: the listed vessels' fixes only
            if sanc is not None:
                wl["sanctions_match"] = match_sanctions(wl, scored.voyages, sanc)
                hit = wl["sanctions_match"] != ""
                wl.loc[hit, "reasons"] = wl.loc[hit, "reasons"] + "; on a sanctions list (" + wl.loc[hit, "sanctions_match"] + ")"
            stage("writing")
            write_watchlist(wl, scored, out, m.levels)
        print_watchlist(wl.head(10), f"watchlist (model {info['name']} v{info['version']})")
        _table("", {"vessels listed": f"{len(wl):,} ({int((wl['level'] == 'high').sum())} high)",
                    "voyages scored": f"{len(scored.voyages):,}", "rows read": f"{scored.counts.read:,}",
                    "seconds": f"{time.perf_counter() - t0:.1f}", "written": str(out)})


def print_watchlist(wl, title: str):
    t = Table(title=title, show_lines=False)
    for c in ("rank", "mmsi", "name", "flag", "risk", "level", "reasons"):
        t.add_column(c, overflow="fold", max_width=70 if c == "reasons" else None)
    for r in wl.itertuples(index=False):
        risk = "" if r.risk is None or r.risk != r.risk else f"{r.risk:.3f}"  # empty: insufficient data
        t.add_row(str(r.rank), str(r.mmsi), str(r.name), str(r.flag), risk, str(r.level), str(r.reasons))
    out_console.print(t)


@app.command()
def serve(host: Annotated[str, typer.Option(help="Address to bind; 127.0.0.1 keeps it on this machine.")] = "127.0.0.1",
          port: Annotated[int, typer.Option(help="TCP port.", min=1, max=65535)] = 3000,
          model: Annotated[Optional[str], typer.Option("--model", help="Model URI (default models:/voyage-risk@champion).")] = None,
          verbose: Verbose = False):
    """Start the REST service (BentoML): /score, /score_voyages, /watchlist, /model."""
    _setup_logging(verbose)
    with user_errors():
        import os
        import shutil
        from training.registry import ModelUnavailable, load_model
        try:
            _, info = load_model(model)  # refuse to start without a model, with the reason
        except ModelUnavailable as err:
            raise UsageProblem(str(err)) from None
        env = dict(os.environ)
        env.setdefault("BENTOML_DO_NOT_TRACK", "true")
        if model:
            env["DARKVOYAGE_MODEL_URI"] = model
        from training.train import tracking_uri
        env["MLFLOW_TRACKING_URI"] = tracking_uri()
        exe = shutil.which("bentoml") or str(Path(sys.executable).parent / "bentoml")
        err_console.print(f"serving {info['name']} v{info['version']} on http://{host}:{port}", highlight=False)
        os.execvpe(exe, [exe, "serve", "serving.service:VoyageRisk", "--host", host, "--port", str(port)], env)


@app.command()
def simulate(out: Annotated[Path, typer.Option("--out", "-o", help="Output folder.")],
             vessels: Annotated[int, typer.Option(help="Vessels in the fleet.", min=2)] = 600,
             days: Annotated[float, typer.Option(help="Scenario length in days.", min=1)] = 60.0,
             seed: Annotated[int, typer.Option(help="Random seed: same seed and world seed, same bytes.")] = 7,
             world_seed: Annotated[Optional[int], typer.Option("--world-seed", help="Seed of the drawn world (reception, habits, behaviour ranges); default: --seed.")] = None,
             start: Annotated[str, typer.Option(help="First day (UTC), YYYY-MM-DD.")] = "2024-10-01",
             suspicious_share: Annotated[float, typer.Option(help="Share of the fleet with a suspicious profile (a training choice: enough examples of every behaviour).", min=0, max=1)] = 0.25,
             label_noise: Annotated[float, typer.Option(help="Share of voyage labels flipped on purpose.", min=0, max=1)] = 0.0,
             verbose: Verbose = False):
    """Labelled Caspian traffic in a randomized world: positions.parquet, labels.csv, vessels.csv,
    events.csv (the planted events' truth), world.json (the drawn world)."""
    _setup_logging(verbose)
    with user_errors():
        import pandas as pd
        from training.simulator import SimConfig, simulate as run_sim, write_scenario
        try:
            pd.Timestamp(start)
        except ValueError:
            raise UsageProblem(f"--start {start!r} is not a date (YYYY-MM-DD)") from None
        cfg = SimConfig(vessels=vessels, days=days, seed=seed, world_seed=world_seed, start=start,
                        suspicious_share=suspicious_share, label_noise=label_noise)
        t0 = time.perf_counter()
        with vessel_progress(vessels) as tick:
            sc = run_sim(cfg, progress=tick)
        paths = write_scenario(sc, out)
        lab = sc.labels
        _table("simulated", {
            "vessels (suspicious)": f"{len(sc.vessels):,} ({int((sc.vessels['profile'] != 'benign').sum())})",
            "positions": f"{len(sc.positions):,}",
            "labelled voyages": f"{len(lab):,} ({int((lab['label'] == 'suspicious').sum())} suspicious)",
            "planted events (benign twins)": f"{len(sc.events):,} ({int((sc.events['label'] == 'benign').sum())})",
            "world seed": str(cfg.world_seed_used),
            "seconds": f"{time.perf_counter() - t0:.1f}",
            "written": ", ".join(v for k, v in paths.items() if k != "dir"),
        })


@contextmanager
def vessel_progress(total: int):
    """A progress bar over vessels on a terminal; yields ``tick(done, total)``."""
    if not err_console.is_terminal:
        yield lambda done, n: None
        return
    from rich.progress import BarColumn, MofNCompleteColumn
    with Progress(TextColumn("simulating"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=err_console, transient=True) as progress:
        task = progress.add_task("vessels", total=total)
        yield lambda done, n: progress.update(task, completed=done)


def _table(title: str, rows: dict):
    t = Table(title=title, show_header=False, box=None)
    for k, v in rows.items():
        t.add_row(k, v)
    out_console.print(t)


#: The demo's training worlds (seeds; each its own world): learning from several worlds is what
#: makes a model carry over to one it never saw (README, robustness table).
DEMO_WORLDS = (7, 11, 13)


@app.command()
def demo(out_dir: Annotated[Path, typer.Option("--out-dir", help="Where to write the demo outputs.")] = Path("out/demo"),
         vessels: Annotated[int, typer.Option(help="Fleet size of the scenario.", min=20)] = 600,
         verbose: Verbose = False):
    """Simulate three Caspian scenarios (three worlds), train on them together, register the model
    and let the gate decide on the champion; write the watchlist for a fresh month and print its
    top ten."""
    _setup_logging(verbose)
    with user_errors():
        import pandas as pd
        from serving.export import write_watchlist
        from serving.scoring import score_files, watchlist as ranked
        from training.registry import load_model
        from training.simulator import SimConfig, simulate as run_sim, write_scenario
        from training.train import train as run_train
        t0 = time.perf_counter()
        out_dir.mkdir(parents=True, exist_ok=True)
        # Three training scenarios with different seeds, so three differently drawn worlds: the
        # model must learn behaviour that holds across worlds, and is measured on another (the
        # reference set) before the gate decides whether it replaces the champion.
        scenarios = []
        for k, seed_k in enumerate(DEMO_WORLDS):
            n = vessels // len(DEMO_WORLDS)
            with vessel_progress(n) as tick:
                scenarios.append(write_scenario(run_sim(SimConfig(vessels=n, days=60, seed=seed_k), progress=tick),
                                                out_dir / f"train{k + 1}"))
        with stages() as stage:
            s = run_train([p["positions"] for p in scenarios], [p["labels"] for p in scenarios], "voyage-risk-demo",
                          stage=stage)
        # A fresh month, after the training period, with its own seed: what an analyst gets on Monday.
        start = (pd.Timestamp("2024-10-01") + pd.Timedelta(days=60)).strftime("%Y-%m-%d")
        with vessel_progress(vessels) as tick:
            # A tenth of the fleet suspicious, as in a plausible month (training uses a quarter).
            month = write_scenario(run_sim(SimConfig(vessels=vessels, days=30, seed=8, start=start, suspicious_share=0.1),
                                           progress=tick), out_dir / "month")
        m, info = load_model()
        with stages() as stage:
            scored = score_files([month["positions"]], m, DEFAULT, stage)
            wl = ranked(scored.voyages, no_voyage=scored.no_voyage)
            stage("writing")
            csv = write_watchlist(wl, scored, out_dir / "watchlist.csv", m.levels)
            html_ = write_watchlist(wl.head(50), scored, out_dir / "watchlist.html", m.levels)
        met = s["metrics"]
        print_watchlist(wl.head(10), f"top ten of {len(wl)} vessels, {start} + 30 days (model v{info['version']})")
        from training.train import tracking_uri
        _table("demo", {
            "model": f"voyage-risk v{s['model_version']}: {s['promotion']}",
            "reference average precision": f"{met['reference_average_precision']:.3f} (best rule "
                                           f"{met['reference_average_precision'] - met['margin_over_best_rule']:.3f}; "
                                           f"in-world test {met['test_average_precision']:.3f})",
            "watchlist": f"{csv}  and  {html_} (opens offline in a browser)",
            "MLflow UI": f"uv run mlflow ui --backend-store-uri {tracking_uri()}",
            "REST service": "uv run darkvoyage serve   (then POST http://127.0.0.1:3000/score)",
            "seconds": f"{time.perf_counter() - t0:.0f}",
        })


def main():  # pragma: no cover - console-script entry point
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
