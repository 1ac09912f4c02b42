"""The ``darkvoyage`` commands that make models: ``train``, ``simulate`` and ``demo``.

They register on the one ``app`` of :mod:`serving.cli` and share its conventions (one-line
errors, exit 2, progress on a terminal)."""

from __future__ import annotations

import time
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.progress import Progress, TextColumn, TimeElapsedColumn

from features.config import DEFAULT
from serving.cli_base import (GazOpt, UsageProblem, Verbose, setup_logging, print_table, app, err_console, print_watchlist,
                         stages, user_errors, warn_share_outside)


@app.command()
def train(positions: Annotated[list[Path], typer.Option("--positions", help="AIS positions of one scenario (any reader format), or a scenario folder with positions.parquet and labels.csv; repeat for more scenarios.")],
          labels: Annotated[Optional[list[Path]], typer.Option("--labels", help="Label CSV (mmsi, start, end, label), one per --positions, in order; optional for scenario folders.")] = None,
          reference: Annotated[Optional[tuple[Path, Path]], typer.Option("--reference", metavar="POSITIONS LABELS", help="Your own reference set (positions and labels) instead of the stored simulated one.")] = None,
          experiment: Annotated[str, typer.Option(help="MLflow experiment.")] = "voyage-risk",
          search: Annotated[int, typer.Option(help="Hyperparameter trials (optuna), 0 = none.", min=0)] = 0,
          promote: Annotated[str, typer.Option(help="auto: only if significantly better than the champion on the reference set; force; never.")] = "auto",
          seed: Annotated[int, typer.Option(help="Split and model seed.")] = 0,
          store: Annotated[Optional[str], typer.Option("--store", help="Also learn from the analysts' verdicts in this store (a SQLite file or a postgresql:// URL).")] = None,
          gazetteer: GazOpt = None, verbose: Verbose = False):
    """Fit, evaluate on the reference set, log to MLflow, register; promote to champion only if
    significantly better on the reference set. With --store, the analysts' verdicts (and the
    stored positions of their vessels) are one more labelled scenario."""
    setup_logging(verbose)
    with user_errors():
        import tempfile
        from features.gazetteer import load_gazetteer
        from training.scenarios import pair_inputs
        from training.run_log import summary_rows
        from training.train import TrainConfig, train as run_train
        if promote not in ("auto", "force", "never"):
            raise UsageProblem(f"--promote must be auto, force or never, not {promote!r}")
        t0 = time.perf_counter()
        sources = pair_inputs(positions, labels)  # label, scenario and training errors: one line, exit 2
        if reference is not None and reference[0] is not None:
            pair_inputs([reference[0]], [reference[1]])  # both files there, before any work
        else:
            reference = None
        with tempfile.TemporaryDirectory() as held:  # the store's scenario, while training reads it
            if store is not None:
                from serving.desk.labels import training_pair
                from serving.desk.store import open_store
                pos, lab = training_pair(open_store(store), held)
                sources += pair_inputs([pos], [lab])
            with stages() as stage:
                s = run_train(sources, None, experiment, search, promote, TrainConfig(seed=seed),
                              gaz=load_gazetteer(gazetteer), stage=stage, reference=reference)
        warn_share_outside(s["outside_share"], DEFAULT)
        print_table("training", {**summary_rows(s), "seconds": f"{time.perf_counter() - t0:.1f}"})


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
    setup_logging(verbose)
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
        print_table("simulated", {
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


#: The demo's training worlds (seeds; each its own world): learning from several worlds is what
#: makes a model carry over to one it never saw (README, robustness table).
DEMO_WORLDS = (7, 11, 13)


@app.command()
def demo(out_dir: Annotated[Path, typer.Option("--out-dir", help="Where to write the demo outputs.")] = Path("out/demo"),
         vessels: Annotated[int, typer.Option(help="Fleet size of the scenario.", min=20)] = 600,
         review: Annotated[int, typer.Option("--review", help="Then work this many vessels of the desk's review queue as an analyst who answers from the simulator's truth, and retrain on the verdicts (one round of the loop; 0: none).", min=0, max=500)] = 0,
         verbose: Verbose = False):
    """Simulate three Caspian scenarios (three worlds), train on them together, register the model
    and let the gate decide on the champion; write the watchlist for a fresh month and print its
    top ten. With --review N, one round of the analysts' loop: N verdicts from the review queue,
    then a retraining that learns from them."""
    setup_logging(verbose)
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
            # The same month into the analysts' store: the desk opens on it (a second demo run
            # adds nothing: the file is already there).
            from serving.desk.store import open_store
            from serving.desk.watch import watch as run_watch
            desk = out_dir / "desk.db"
            watched = run_watch([month["positions"]], open_store(str(desk)), m, info, DEFAULT, stage=stage)
        met = s["metrics"]
        print_watchlist(wl.head(10), f"top ten of {len(wl)} vessels, {start} + 30 days (model v{info['version']})")
        from training.tracking import tracking_uri
        print_table("demo", {
            "model": f"voyage-risk v{s['model_version']}: {s['promotion']}",
            "reference average precision": f"{met['reference_average_precision']:.3f} (best rule "
                                           f"{met['reference_average_precision'] - met['margin_over_best_rule']:.3f}; "
                                           f"in-world test {met['test_average_precision']:.3f})",
            "watchlist": f"{csv}  and  {html_} (opens offline in a browser)",
            "MLflow UI": f"uv run mlflow ui --backend-store-uri {tracking_uri()}",
            "REST service": "uv run darkvoyage serve   (then POST http://127.0.0.1:3000/score)",
            "analysts' desk": f"{len(watched.alerts)} alerts in {desk}; open it: uv run darkvoyage analyst add YOUR-NAME "
                              f"--store {desk}, then uv run darkvoyage serve --store {desk} and http://127.0.0.1:3000/",
            "seconds": f"{time.perf_counter() - t0:.0f}",
        })
        if review:
            _review_round(scenarios, month, desk, review, s)


def _review_round(scenarios: list[dict], month: dict, desk: Path, reviews: int, before: dict) -> None:
    """``demo --review``: the simulated analyst works the queue, then ``train --store`` runs."""
    import tempfile
    from serving.desk.labels import training_pair
    from serving.desk.simulated_analyst import NAME, review_round
    from serving.desk.store import open_store
    from training.run_log import summary_rows
    from training.scenarios import pair_inputs
    from training.train import train as run_train
    store = open_store(str(desk))
    done = review_round(store, month["labels"], reviews)
    with tempfile.TemporaryDirectory() as held, stages() as stage:
        pos, lab = training_pair(store, held)
        sources = pair_inputs([p["positions"] for p in scenarios] + [pos], [p["labels"] for p in scenarios] + [lab])
        s = run_train(sources, None, "voyage-risk-demo", stage=stage)
    rows = summary_rows(s)
    print_table("review round", {
        "verdicts": f"{len(done)} vessels from the review queue ({int((done['verdict'] == 'suspicious').sum())} "
                    f"suspicious), by {NAME}",
        "why they were queued": ", ".join(f"{k.replace('_', ' ')} {n}" for k, n in done["pick"].value_counts().items()),
        **{k: rows[k] for k in ("analyst labels", "analyst reference set") if k in rows},
        "reference average precision": f"{s['metrics']['reference_average_precision']:.3f} (before the verdicts: "
                                       f"{before['metrics']['reference_average_precision']:.3f})",
        "model": f"voyage-risk v{s['model_version']}: {s['promotion']}",
        "next": f"the verdicts are in {desk}; export them: uv run darkvoyage labels export --store {desk} --out labels.csv",
    })
