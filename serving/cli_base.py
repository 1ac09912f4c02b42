"""What every ``darkvoyage`` command shares: the one Typer ``app``, the option types, one-line
errors (exit 2 for bad usage or input, 1 for a bug), progress on a terminal, the summary
tables. The commands live in :mod:`serving.cli` (pipeline and service),
:mod:`serving.cli_training` and :mod:`serving.cli_events`."""

from __future__ import annotations

import dataclasses
import logging
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
            elif isinstance(current, str):  # a date (min_timestamp): checked here, used as text
                import pandas as pd
                parsed = str(pd.Timestamp(value).date())
            elif value.lower() == "none":
                parsed = None
            else:
                parsed = float(value)
        except ValueError:
            raise UsageProblem(f"--set {key}: {value!r} is not a valid value") from None
        cfg = cfg.with_(**{key: parsed})
    return cfg


def check_inputs(paths) -> None:
    """Refuse a missing input file before any slow work (loading a model, opening a store)."""
    for p in paths:
        if not Path(p).exists():
            raise UsageProblem(f"{p}: no such file")


def warn_outside_region(tracks, gaz, cfg) -> None:
    """One line on stderr when most of ``tracks``' fixes (a run's ``TrackResult``, None on
    Spark) lie outside the gazetteer's region: every command that reads AIS says it
    (:func:`serving.scoring.outside_region_warning`)."""
    if tracks is not None:
        warn_share_outside(tracks.share_outside(gaz, cfg.dark_call_region_km), cfg)


def warn_share_outside(share: float, cfg) -> None:
    """:func:`warn_outside_region`'s line for a share measured elsewhere (``watch`` measures
    the rows it adds, not the stored month it rescores)."""
    from serving.scoring import outside_region_warning
    if (text := outside_region_warning(share, cfg)) is not None:
        err_console.print(f"darkvoyage: warning: {text}", markup=False, highlight=False, soft_wrap=True)


def load_coverage(path: Path | None):
    """The reference coverage grid of ``--coverage`` (None without one)."""
    if path is None:
        return None
    from features.coverage import CoverageGrid
    if not path.exists():
        raise UsageProblem(f"{path}: no such coverage grid")
    return CoverageGrid.load(path)


def setup_logging(verbose: bool):
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


def print_counts(counts, extra: dict):
    t = Table(title="rows", show_header=False, box=None)
    t.add_row("read", f"{counts.read:,}")
    t.add_row("positions", f"{counts.positions:,}")
    t.add_row("static (identity only)", f"{counts.static:,}")
    for reason, n in sorted(counts.rejected.items(), key=lambda kv: -kv[1]):
        t.add_row(f"rejected: {reason}", f"{n:,}")
    if counts.re_decoded:
        t.add_row("re-decoded (not UTF-8)", f"{counts.re_decoded:,}")
    for k, v in extra.items():
        t.add_row(k, v)
    out_console.print(t)


def print_run(run, t0: float, extra: dict | None = None) -> None:
    """An engine run's row counts and figures, its time and where it wrote."""
    figures = {k: (f"{v:,}" if isinstance(v, int) else str(v)) for k, v in run.figures.items() if k != "rejected"}
    figures.update(extra or {})
    figures["seconds"] = f"{time.perf_counter() - t0:.1f}"
    if run.out:
        figures["written"] = f"{run.out}  (rejected rows: {run.figures['rejected']})"
    print_counts(run.counts, figures)


Inputs = Annotated[list[Path], typer.Argument(help="AIS files: CSV, Parquet, NDJSON (.gz too) or NMEA.", show_default=False)]
Out = Annotated[str, typer.Option("--out", "-o", help="Output .parquet (or .csv); with --engine spark also a folder ending in / or a URI.")]
GazOpt = Annotated[Optional[Path], typer.Option("--gazetteer", help="Port list CSV (default: the curated Caspian list).")]
SetOpt = Annotated[Optional[list[str]], typer.Option("--set", help="Override a threshold, e.g. --set gap_hours=2 (repeatable).")]
Verbose = Annotated[bool, typer.Option("--verbose", "-v", help="Log each stage.")]
Engine = Annotated[str, typer.Option("--engine", help="local (one machine) or spark (PySpark; `uv sync --extra spark`).")]
Master = Annotated[Optional[str], typer.Option("--spark-master", help="Spark master URL (local[4], spark://host:7077, yarn); default: spark-submit's, else local[*].")]


def print_watchlist(wl, title: str):
    t = Table(title=title, show_lines=False)
    for c in ("rank", "mmsi", "name", "flag", "risk", "level", "reasons"):
        t.add_column(c, overflow="fold", max_width=70 if c == "reasons" else None)
    for r in wl.itertuples(index=False):
        risk = "" if r.risk is None or r.risk != r.risk else f"{r.risk:.3f}"  # empty: insufficient data
        t.add_row(str(r.rank), str(r.mmsi), str(r.name), str(r.flag), risk, str(r.level), str(r.reasons))
    out_console.print(t)


def print_table(title: str, rows: dict):
    t = Table(title=title, show_header=False, box=None)
    for k, v in rows.items():
        t.add_row(k, v)
    out_console.print(t)
