"""``darkvoyage watch`` and ``darkvoyage analyst add`` (issue #25): the analysts' store. Registered
on the main app by importing it from :mod:`serving.cli`; the conventions (one-line errors,
exit 2, stages, row counts) are that module's."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Annotated, Optional

import typer

from serving.cli_base import (Inputs, SetOpt, UsageProblem, Verbose, app, check_inputs, parse_settings,
                              print_counts, setup_logging, stages, user_errors, warn_share_outside)

StoreOpt = Annotated[Optional[str], typer.Option(
    "--store", help="The store: a SQLite file or a postgresql:// URL (default DARKVOYAGE_STORE, else darkvoyage.db).")]
analyst_app = typer.Typer(help="The analysts who give verdicts on alerts.", no_args_is_help=True)
app.add_typer(analyst_app, name="analyst")


@app.command()
def watch(inputs: Inputs, store: StoreOpt = None,
          model: Annotated[Optional[str], typer.Option("--model", help="Model URI (default models:/voyage-risk@champion).")] = None,
          out: Annotated[Optional[Path], typer.Option("--out", "-o", help="What is new: .csv, .parquet or .html.")] = None,
          set_: SetOpt = None, verbose: Verbose = False):
    """Add the inputs to the store (a file already added adds nothing), rescore the vessels they
    touch, record alerts, and write and print what is new since the last run."""
    setup_logging(verbose)
    with user_errors():
        from serving.desk.export import check_alerts_output, write_alerts
        from serving.desk.store import open_store
        if out is not None:
            check_alerts_output(out)
        cfg = parse_settings(set_)
        st = open_store(store)
        t0 = time.perf_counter()
        res, info = _watch_into(inputs, st, model, cfg)
        if out is not None:
            with stages() as stage:
                stage("writing")
                rej = write_alerts(res.alerts, res.rejected, out, res.counts,
                                   {"run": res.figures["run"], "store": st.url, "model": info.get("uri")})
        _print_alerts(res.alerts)
        print_counts(res.counts, {**{k: f"{v:,}" for k, v in res.figures.items()}, "store": st.url,
                                  "seconds": f"{time.perf_counter() - t0:.1f}",
                                  **({"written": f"{out}  (rejected rows: {rej})"} if out is not None else {})})


def _print_alerts(alerts) -> None:
    from serving.cli_base import print_table
    if not len(alerts):
        print_table("new since the last run", {"alerts": "none"})
        return
    head = alerts.head(10)
    print_table(f"new since the last run: {len(alerts)} alert(s), first ten", {
        f"#{r.alert_id} {r.kind}": f"{r.mmsi} {_text(r.name)} risk {r.risk:.2f} ({r.level}): {_clip(_text(r.reasons), 90)}"
        for r in head.itertuples()})


def _clip(text: str, n: int) -> str:
    """``text`` cut to at most ``n`` characters at a word's end, with an ellipsis when cut.

    >>> _clip("AIS off 31 h, starting 18 km from Amirabad", 20)
    'AIS off 31 h,…'
    """
    if len(text) <= n:
        return text
    cut = text[:n - 1]
    return (cut.rsplit(" ", 1)[0] if " " in cut else cut) + "…"


def _text(v) -> str:
    return "" if v is None or v != v else str(v)  # v != v: NaN


@analyst_app.command("add")
def analyst_add(name: Annotated[str, typer.Argument(help="The analyst's name, as verdicts will show it.")],
                store: StoreOpt = None, verbose: Verbose = False):
    """Register an analyst; prints their API key once (the store keeps only a hash of it)."""
    setup_logging(verbose)
    with user_errors():
        from serving.desk.analysts import add_analyst
        from serving.desk.store import open_store
        st = open_store(store)
        key = add_analyst(st, name)
        typer.echo(f"analyst {name!r} added to {st.url}; their API key (shown once, keep it safe):")
        typer.echo(key)


@app.command()
def card(mmsi: Annotated[int, typer.Argument(help="The vessel's MMSI.", min=1, max=999_999_999)],
         out: Annotated[Path, typer.Option("--out", "-o", help="The card: .html, .pdf (printed by Chromium) or .md.")],
         inputs: Annotated[Optional[list[Path]], typer.Argument(
             help="AIS files to make the card from instead of a store (scored with --model).", show_default=False)] = None,
         store: StoreOpt = None,
         model: Annotated[Optional[str], typer.Option("--model", help="With input files: the model URI (default models:/voyage-risk@champion).")] = None,
         set_: SetOpt = None, verbose: Verbose = False):
    """An evidence card for one vessel, from the store or from AIS files: map, timeline, gaps
    with imagery links, possible dark calls, identities, reasons, the model, the data's
    provenance, and a plain statement that it is a lead for investigation, not a finding."""
    setup_logging(verbose)
    with user_errors():
        from serving.desk.card import check_card_output, write_card
        from serving.desk.store import open_store
        check_card_output(out)
        if inputs and store:
            raise UsageProblem("card reads a store (--store) or input files, not both")
        if not inputs:
            path = write_card(open_store(store, existing=True), mmsi, out)
            typer.echo(f"evidence card for {mmsi}: {path}")
            return
        check_inputs(inputs)
        with tempfile.TemporaryDirectory() as tmp:
            st = open_store(str(Path(tmp) / "card.db"))
            res, _ = _watch_into(inputs, st, model, parse_settings(set_))
            path = write_card(st, mmsi, out)
            st.engine.dispose()
        print_counts(res.counts, {"card": f"{mmsi}: {path}"})


def _watch_into(inputs, st, model, cfg):
    """``watch``'s work (read, score, record) of ``inputs`` into the store ``st`` with the
    model at URI ``model``: (:class:`serving.desk.watch.WatchResult`, what the registry says of
    the model)."""
    from serving.desk.watch import watch as run_watch
    from training.registry import load_model
    m, info = load_model(model)
    with stages() as stage:
        res = run_watch(inputs, st, m, info, cfg, stage=stage)
    warn_share_outside(res.outside_share, cfg)
    return res, info


labels_app = typer.Typer(help="Analyst labels from the store's verdicts.", no_args_is_help=True)
app.add_typer(labels_app, name="labels")


@labels_app.command("export")
def labels_export(out: Annotated[Path, typer.Option("--out", "-o", help="The label file (.csv).")],
                  store: StoreOpt = None, verbose: Verbose = False):
    """The store's verdicts as an analyst label file (contract section 2): one row per alerted
    voyage with its latest verdict, the analyst and the time; `uncertain` kept (never trained on)."""
    setup_logging(verbose)
    with user_errors():
        from features.io import check_output
        from serving.desk.labels import verdict_labels
        from serving.desk.store import open_store
        check_output(out, (".csv",), "label file")
        labels = verdict_labels(open_store(store, existing=True))
        labels.to_csv(out, index=False)
        n = labels["label"].value_counts()
        typer.echo(f"{len(labels)} label(s) to {out}: " + ", ".join(f"{k} {int(n.get(k, 0))}" for k in
                                                               ("suspicious", "benign", "uncertain")))
