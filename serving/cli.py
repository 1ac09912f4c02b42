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

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="darkvoyage: AIS gaps, voyages and dark-port-call risk for Caspian shipping.")
out_console = Console()
err_console = Console(stderr=True)
log = logging.getLogger("darkvoyage")


class UsageProblem(Exception):
    """Bad usage or unreadable input: reported in one line, exit status 2."""


def _fail(msg: str, code: int = 2):
    err_console.print(f"darkvoyage: {msg}", markup=False, highlight=False, soft_wrap=True)
    raise typer.Exit(code)


@contextmanager
def user_errors():
    """Turn the library's input errors into one line and exit 2; bugs into one line and exit 1."""
    from features.gazetteer import GazetteerError
    from features.io import OutputError
    from features.readers import InputError
    try:
        yield
    except (InputError, GazetteerError, OutputError, UsageProblem) as err:
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
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, format="%(message)s",
                        handlers=[RichHandler(console=err_console, show_path=False)], force=True)


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


Inputs = Annotated[list[Path], typer.Argument(help="AIS files: CSV, Parquet, NDJSON (.gz too) or NMEA.", show_default=False)]
Out = Annotated[Path, typer.Option("--out", "-o", help="Output .parquet (or .csv).")]
GazOpt = Annotated[Optional[Path], typer.Option("--gazetteer", help="Port list CSV (default: the curated Caspian list).")]
SetOpt = Annotated[Optional[list[str]], typer.Option("--set", help="Override a threshold, e.g. --set gap_hours=2 (repeatable).")]
Verbose = Annotated[bool, typer.Option("--verbose", "-v", help="Log each stage.")]


@app.command()
def tracks(inputs: Inputs, out: Out, gazetteer: GazOpt = None, set_: SetOpt = None, verbose: Verbose = False):
    """Clean AIS, split shared MMSIs into tracks, find port visits and cut voyages."""
    _setup_logging(verbose)
    with user_errors():
        from features.gazetteer import load_gazetteer
        from features.io import check_output, track_positions_table, write_rejected, write_table
        from features.pipeline import run_tracks
        cfg = parse_settings(set_)
        check_output(out)
        gaz = load_gazetteer(gazetteer)
        t0 = time.perf_counter()
        with stages() as stage:
            tr = run_tracks(inputs, gaz, cfg, stage)
            stage("writing")
            table = track_positions_table(tr, gaz)
            write_table(table, out, tr.counts, {"config": cfg.to_dict()})
            rej = write_rejected(tr.rejected, out)
        _print_counts(tr.counts, {
            "tracks": f"{table['track_id'].nunique():,}",
            "voyages": f"{table['voyage_id'].nunique():,}",
            "port visits": f"{len(tr.visits):,}",
            "seconds": f"{time.perf_counter() - t0:.1f}",
            "written": f"{out}  (rejected rows: {rej})",
        })


@app.command()
def features(inputs: Inputs, out: Out, gazetteer: GazOpt = None,
             coverage: Annotated[Optional[Path], typer.Option(
                 "--coverage", help="Reference coverage grid (.parquet, as logged with a model); default: built from the inputs.")] = None,
             set_: SetOpt = None, verbose: Verbose = False):
    """One row per voyage: identity, times, ports and dark-activity features."""
    _setup_logging(verbose)
    with user_errors():
        from features.coverage import CoverageGrid
        from features.gazetteer import load_gazetteer
        from features.io import check_output, write_rejected, write_table
        from features.pipeline import run_features
        from features.config import FEATURE_CODE_VERSION
        cfg = parse_settings(set_)
        check_output(out)
        gaz = load_gazetteer(gazetteer)
        grid = None
        if coverage is not None:
            if not coverage.exists():
                raise UsageProblem(f"{coverage}: no such coverage grid")
            grid = CoverageGrid.load(coverage)
        t0 = time.perf_counter()
        with stages() as stage:
            voyages, tr = run_features(inputs, gaz, cfg, grid, stage)
            stage("writing")
            write_table(voyages, out, tr.counts, {"config": cfg.to_dict(), "feature_code_version": FEATURE_CODE_VERSION})
            rej = write_rejected(tr.rejected, out)
        _print_counts(tr.counts, {
            "voyages": f"{len(voyages):,}",
            "with a gap >= 12 h": f"{int((voyages['max_gap_h'] >= 12).sum()):,}",
            "seconds": f"{time.perf_counter() - t0:.1f}",
            "written": f"{out}  (rejected rows: {rej})",
        })


@app.command()
def simulate(out: Annotated[Path, typer.Option("--out", "-o", help="Output folder.")],
             vessels: Annotated[int, typer.Option(help="Vessels in the fleet.", min=2)] = 600,
             days: Annotated[float, typer.Option(help="Scenario length in days.", min=1)] = 60.0,
             seed: Annotated[int, typer.Option(help="Random seed: same seed, same bytes.")] = 7,
             start: Annotated[str, typer.Option(help="First day (UTC), YYYY-MM-DD.")] = "2024-10-01",
             suspicious_share: Annotated[float, typer.Option(help="Share of the fleet with a suspicious profile.", min=0, max=1)] = 0.10,
             label_noise: Annotated[float, typer.Option(help="Share of voyage labels flipped on purpose.", min=0, max=1)] = 0.0,
             verbose: Verbose = False):
    """Labelled Caspian traffic: positions.parquet, labels.csv, vessels.csv."""
    _setup_logging(verbose)
    with user_errors():
        import pandas as pd
        from training.simulator import SimConfig, simulate as run_sim, write_scenario
        try:
            pd.Timestamp(start)
        except ValueError:
            raise UsageProblem(f"--start {start!r} is not a date (YYYY-MM-DD)") from None
        cfg = SimConfig(vessels=vessels, days=days, seed=seed, start=start, suspicious_share=suspicious_share,
                        label_noise=label_noise)
        t0 = time.perf_counter()
        with vessel_progress(vessels) as tick:
            sc = run_sim(cfg, progress=tick)
        paths = write_scenario(sc, out)
        lab = sc.labels
        _table("simulated", {
            "vessels (suspicious)": f"{len(sc.vessels):,} ({int((sc.vessels['profile'] != 'benign').sum())})",
            "positions": f"{len(sc.positions):,}",
            "labelled voyages": f"{len(lab):,} ({int((lab['label'] == 'suspicious').sum())} suspicious)",
            "seconds": f"{time.perf_counter() - t0:.1f}",
            "written": ", ".join(paths.values()),
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


@app.command()
def demo(out_dir: Annotated[Path, typer.Option("--out-dir", help="Where to write the demo outputs.")] = Path("out/demo"),
         verbose: Verbose = False):
    """Run the main job end to end on built-in data and print what it found."""
    _setup_logging(verbose)
    with user_errors():
        from features.gazetteer import load_gazetteer
        from features.io import write_rejected, write_table
        from features.pipeline import run_features
        data = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "real"
        inputs = sorted(data.glob("gfw_gpsdio_segment/*/*.json")) + sorted(data.glob("nmea/*"))
        if not inputs:
            raise UsageProblem(f"{data}: no demo data found (expected ../shared/data/real beside the project)")
        out_dir.mkdir(parents=True, exist_ok=True)
        out = out_dir / "voyages.parquet"
        with stages() as stage:
            voyages, tr = run_features(inputs, load_gazetteer(), DEFAULT, None, stage)
            write_table(voyages, out, tr.counts)
            write_rejected(tr.rejected, out)
        _print_counts(tr.counts, {"voyages": f"{len(voyages):,}", "written": str(out)})
        top = voyages.sort_values("max_gap_h", ascending=False).head(10)
        t = Table(title="longest AIS gaps (real GFW and DMA data)")
        for c in ("voyage_id", "flag", "max_gap_h", "lg_displacement_km", "ctx_neighbours_per_h"):
            t.add_column(c)
        for _, r in top.iterrows():
            t.add_row(str(r["voyage_id"]), str(r["flag"]), f"{r['max_gap_h']:.1f}",
                      f"{r['lg_displacement_km']:.0f}", f"{r['ctx_neighbours_per_h']:.1f}")
        out_console.print(t)


def main():  # pragma: no cover - console-script entry point
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
