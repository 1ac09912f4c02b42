"""The analysts' store and ``darkvoyage watch`` (issue #25), on SQLite and on a real PostgreSQL
server: a simulated fleet's days added one run at a time, each file once; alerts by the rules;
what a run writes lands whole or not at all; two runs never write at once; analysts' keys are
kept hashed."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from serving.cli import app
from serving.desk.alerts import ALERT_COLUMNS, ranks
from serving.desk.analysts import add_analyst, analyst_of_key
from serving.desk.config import DeskConfig
from serving.desk.models import Alert, Analyst, Event, Ingest, PositionBlock, Run, Vessel, Voyage
from serving.desk.store import StoreBusy, open_store, writing
from serving.desk.watch import watch
from training.registry import load_model

from ..postgres import new_database, postgres_server

GOLDEN_MODEL = Path(__file__).resolve().parent.parent / "golden" / "model"
ROOT = Path(__file__).resolve().parent.parent.parent


@pytest.fixture(scope="module")
def days(small_world, tmp_path_factory) -> list[Path]:
    """The small world's positions, one Parquet file per UTC day."""
    pos = pd.read_parquet(small_world["positions"])
    folder = tmp_path_factory.mktemp("days")
    out = []
    for k, (_, g) in enumerate(pos.groupby(pos["timestamp"].dt.floor("D"))):
        out.append(folder / f"day{k:02d}.parquet")
        g.to_parquet(out[-1], index=False)
    return out


@pytest.fixture(scope="module")
def model():
    return load_model(str(GOLDEN_MODEL))


@pytest.fixture(scope="module")
def pg():
    with postgres_server() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request, tmp_path):
    if request.param == "sqlite":
        return open_store(str(tmp_path / "desk.db"))
    return open_store(new_database(request.getfixturevalue("pg"), f"d{abs(hash(tmp_path)) % 10**9}"))


def _count(store, table) -> int:
    with store.engine.connect() as c:
        return c.execute(select(func.count()).select_from(table)).scalar()


def test_day_by_day(store, days, model):
    m, info = model
    first = watch(days[:8], store, m, info)
    assert first.figures["files added"] == 8 and first.figures["vessels rescored"] > 100
    a = first.alerts
    assert list(a.columns) == ALERT_COLUMNS and a["alert_id"].is_unique
    with store.engine.connect() as c:  # an empty store: the whole top is new, ties at the cut included
        v = pd.DataFrame(c.execute(select(Vessel.mmsi, Vessel.risk, Vessel.level)).all(), columns=["mmsi", "risk", "level"])
    top = v[(ranks(v["risk"].astype(float)) <= DeskConfig().top_n).to_numpy()]
    # ... but not a vessel of the top that reads low (this store: 163 vessels, its top 50 reach risk 0.03).
    listed = set(top.loc[top["level"].isin(DeskConfig().alert_levels), "mmsi"])
    assert set(a.loc[a["kind"] == "new_on_list", "mmsi"]) == listed and 0 < len(listed) < len(top) >= DeskConfig().top_n
    assert set(a["kind"]) <= {"new_on_list", "risk_up", "new_event"} and "risk_up" not in set(a["kind"])
    assert a.loc[a["kind"] == "new_event", "reasons"].str.match(r"(possible_dark_port_call|identity_change|"
                                                                r"shared_mmsi|spoofing): ").all()
    assert first.counts.read == sum(len(pd.read_parquet(d)) for d in days[:8]) and first.counts.balanced
    blocks, ingests = _count(store, PositionBlock), _count(store, Ingest)
    assert ingests == 8 and blocks >= 8
    # The same files again add nothing and alert on nothing.
    again = watch(days[:8], store, m, info)
    assert again.figures["files added"] == 0 and again.figures["files already in the store"] == 8
    assert len(again.alerts) == 0 and _count(store, PositionBlock) == blocks
    # The next day: only its vessels rescored; a vessel new on the list was not there before.
    with store.engine.connect() as c:
        was = pd.DataFrame(c.execute(select(Vessel.mmsi, Vessel.risk)).all(), columns=["mmsi", "risk"])
    top_before = set(was.sort_values("risk", ascending=False).head(DeskConfig().top_n)["mmsi"])
    nxt = watch([days[8]], store, m, info)
    assert nxt.figures["files added"] == 1
    with store.engine.connect() as c:
        touched = set(pd.read_parquet(days[8])["mmsi"])
        rescored = set(c.execute(select(Vessel.mmsi).where(Vessel.run_id == nxt.figures["run"])).scalars())
        assert rescored and rescored <= touched
        runs = c.execute(select(Run.id, Run.files_added, Run.finished_at)).all()
        n_events = c.execute(select(func.count(Event.id))).scalar()
        assert c.execute(select(func.count(Voyage.id)).where(Voyage.run_id == nxt.figures["run"])).scalar() > 0
    assert not set(nxt.alerts.loc[nxt.alerts["kind"] == "new_on_list", "mmsi"]) & top_before
    assert [r.files_added for r in runs] == [8, 0, 1] and all(r.finished_at is not None for r in runs)
    assert n_events > 0
    ups = nxt.alerts[nxt.alerts["kind"] == "risk_up"]
    assert ((ups["risk"] - ups["previous_risk"]) >= DeskConfig().risk_step - 1e-9).all()


class _Broken:
    """A model that fails while scoring: the run must leave the store as it was."""

    def __init__(self, real):
        self.real = real
        self.gaz, self.grid, self.levels = real.gaz, real.grid, real.levels

    def __getattr__(self, name):
        raise RuntimeError("the model broke halfway")


def test_a_failed_run_leaves_the_store_as_it_was(store, days, model):
    m, info = model
    watch(days[:3], store, m, info)
    before = {t.__tablename__: _count(store, t) for t in (Run, Ingest, PositionBlock, Vessel, Alert, Event, Voyage)}
    with pytest.raises(RuntimeError, match="broke halfway"):
        watch(days[3:5], store, _Broken(m), info)
    assert {t.__tablename__: _count(store, t) for t in (Run, Ingest, PositionBlock, Vessel, Alert, Event, Voyage)} == before


def test_a_second_writer_waits_then_refuses(store):
    """For its own ``lock_wait_s`` (1 s here), whatever the store was opened with (10 s)."""
    with writing(store) as s:
        s.add(Analyst(name="holder", key_hash="x", created_at=pd.Timestamp.now(tz="UTC").to_pydatetime()))
        s.flush()
        # A second process, not a second connection of this one: what two `watch` runs are.
        code = ("import sys; from serving.desk.store import open_store, writing, StoreBusy\n"
                f"st = open_store({str(store.engine.url.render_as_string(hide_password=False))!r})\n"
                "try:\n    with writing(st, lock_wait_s=1): pass\nexcept StoreBusy as e:\n    print(e); sys.exit(3)\n")
        r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
        assert r.returncode == 3, r.stderr
        assert "another run is writing to it; waited 1 s" in r.stdout
    with writing(store, lock_wait_s=1) as s:  # released: the next writer gets in at once
        if store.dialect == "sqlite":  # SQLite itself bounds the wait: this writer's 1 s
            assert s.connection().connection.driver_connection.execute("PRAGMA busy_timeout").fetchone()[0] == 1000
    assert StoreBusy.__mro__[1].__name__ == "StoreError"


def test_analysts_keys_are_kept_hashed(store):
    key = add_analyst(store, "Ann Analyst")
    assert len(key) >= 40 and analyst_of_key(store, key).name == "Ann Analyst"
    assert analyst_of_key(store, key[:-1] + ("A" if key[-1] != "A" else "B")) is None
    assert analyst_of_key(store, None) is None
    with store.engine.connect() as c:
        stored = c.execute(select(Analyst.key_hash)).scalars().all()
    assert key not in stored and len(stored) == 1


def test_cli_watch_and_analyst(days, tmp_path):
    db = tmp_path / "cli.db"
    runner = CliRunner()
    out = tmp_path / "new.csv"
    res = runner.invoke(app, ["watch", *map(str, days[:4]), "--store", str(db), "--model", str(GOLDEN_MODEL),
                              "--out", str(out)])
    assert res.exit_code == 0, res.output
    got = pd.read_csv(out)
    assert list(got.columns) == ALERT_COLUMNS and len(got) > 0 and "new since the last run" in res.output
    assert json.loads(Path(str(out) + ".rows.json").read_text())["darkvoyage.rows"]["read"] > 0
    assert Path(str(out) + ".rejected.csv").exists()
    html = tmp_path / "new.html"
    res = runner.invoke(app, ["watch", str(days[4]), "--store", str(db), "--model", str(GOLDEN_MODEL), "--out",
                              str(html)])
    assert res.exit_code == 0 and "<table>" in html.read_text() and "new alert(s)" in html.read_text()
    res = runner.invoke(app, ["analyst", "add", "Bo", "--store", str(db)])
    assert res.exit_code == 0 and "shown once" in res.output
    key = res.output.strip().splitlines()[-1]
    assert key not in db.read_bytes().decode("latin-1")
    again = runner.invoke(app, ["analyst", "add", "Bo", "--store", str(db)])
    assert again.exit_code == 2 and "already in" in again.output
    for args, msg in ((["watch", str(days[0]), "--store", "mysql://x/y", "--model", str(GOLDEN_MODEL)],
                       "expected a SQLite file or a postgresql:// URL"),
                      (["watch", str(days[0]), "--store", str(tmp_path / "no" / "x.db")], "no such folder"),
                      (["watch", str(days[0]), "--store", str(days[1]), "--model", str(GOLDEN_MODEL)],
                       "cannot open it"),  # a file that is no database
                      (["watch", str(tmp_path / "none.parquet"), "--store", str(db), "--model", str(GOLDEN_MODEL)],
                       "no such file"),
                      (["watch", str(days[0]), "--store", str(db), "--out", str(tmp_path / "x.txt")], ".csv")):
        r = runner.invoke(app, args)
        assert r.exit_code == 2 and msg in r.output, (args, r.output)


def test_a_run_killed_midway_leaves_the_store_as_it_was(store, days, model):
    """A ``watch`` process killed (SIGKILL) while it rescores, after it added the files inside
    its transaction: the store has neither the files nor the run, and the next run adds them."""
    import os
    import signal
    m, info = model
    watch(days[:2], store, m, info)
    tables = (Run, Ingest, PositionBlock, Vessel, Alert, Event, Voyage)
    before = {t.__tablename__: _count(store, t) for t in tables}
    url = store.engine.url.render_as_string(hide_password=False)
    proc = subprocess.Popen([str(Path(sys.executable).parent / "darkvoyage"), "watch", *map(str, days[2:6]),
                             "--store", url, "--model", str(GOLDEN_MODEL), "--verbose"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    seen = []
    for line in proc.stderr:  # the stages as the run logs them: kill it once it rescores
        seen.append(line)
        if "rescoring ..." in line:
            os.kill(proc.pid, signal.SIGKILL)
            break
    proc.wait(timeout=120)
    assert proc.returncode == -signal.SIGKILL, "".join(seen)[-2000:]
    assert {t.__tablename__: _count(store, t) for t in tables} == before
    again = watch(days[2:6], store, m, info)
    assert again.figures["files added"] == 4


def test_verdicts_export_as_analyst_labels(store, days, model, tmp_path):
    """Verdicts -> a label file (contract section 2) that training reads: the latest verdict per
    alerted voyage, with analyst and time; ``uncertain`` kept in the file, left out of training."""
    from serving.desk.labels import LABEL_COLUMNS, verdict_labels
    from serving.desk.queries import record_verdict
    from training.labels import read_labels
    m, info = model
    alerts = watch(days[:4], store, m, info).alerts
    key = add_analyst(store, "Cy")
    cy = analyst_of_key(store, key)
    with Session(store.engine) as s:
        voy = pd.DataFrame(s.execute(select(Voyage.mmsi, Voyage.voyage_id, Voyage.start, Voyage.end)).all(),
                           columns=["mmsi", "voyage_id", "start", "end"]).drop_duplicates("voyage_id")
    on_voyage = alerts[alerts["voyage_id"].notna()].drop_duplicates("mmsi")  # three vessels, b's with several voyages
    several = on_voyage["mmsi"].isin(voy["mmsi"].value_counts().loc[lambda n: n > 1].index)
    b = int(on_voyage.loc[several, "alert_id"].iloc[0])
    a, c = (int(x) for x in on_voyage.loc[on_voyage["alert_id"] != b, "alert_id"].iloc[:2])
    record_verdict(store, cy, a, "benign")
    record_verdict(store, cy, a, "suspicious", "second look: a dark call at Amirabad")  # the latest counts
    record_verdict(store, cy, b, "benign")
    record_verdict(store, cy, c, "uncertain")
    got = verdict_labels(store)
    assert list(got.columns) == LABEL_COLUMNS and len(got) == 3
    assert sorted(got["label"]) == ["benign", "suspicious", "uncertain"]
    assert set(got["source"]) == {"analyst"} and set(got["analyst"]) == {"Cy"}
    assert got.loc[got["label"] == "suspicious", "note"].iloc[0].startswith("second look")
    # The suspicious and uncertain verdicts name their voyage; the dismissed vessel's label spans
    # its whole window as the run scored it (first voyage start to last voyage end).
    stamp = lambda t: pd.to_datetime(t, utc=True).strftime("%Y-%m-%dT%H:%M:%SZ")  # noqa: E731
    for aid, label in ((a, "suspicious"), (c, "uncertain")):
        vid = on_voyage.set_index("alert_id").at[aid, "voyage_id"]
        row = got[got["label"] == label].iloc[0]
        assert (row["start"], row["end"]) == tuple(stamp(voy.loc[voy["voyage_id"] == vid, k].iloc[0]) for k in ("start", "end"))
    mine = voy[voy["mmsi"] == on_voyage.set_index("alert_id").at[b, "mmsi"]]
    row = got[got["label"] == "benign"].iloc[0]
    assert (row["start"], row["end"]) == (stamp(mine["start"].min()), stamp(mine["end"].max())) and len(mine) > 1
    path = tmp_path / "labels.csv"
    got.to_csv(path, index=False)
    read = read_labels(path)
    assert len(read) == 2 and sorted(read["y"]) == [0, 1]  # uncertain: in the file, not trained on
    res = CliRunner().invoke(app, ["labels", "export", "--store", store.engine.url.render_as_string(hide_password=False),
                                   "--out", str(tmp_path / "cli.csv")])
    assert res.exit_code == 0 and "suspicious 1, benign 1, uncertain 1" in res.output
    assert pd.read_csv(tmp_path / "cli.csv").shape == (3, len(LABEL_COLUMNS))


def test_train_learns_from_the_stores_verdicts(days, model, small_world, tmp_path):
    """``darkvoyage train --store``: the verdicts and their vessels' stored positions are one
    more scenario; the run records how many analyst labels and vessels it used."""
    import os
    import mlflow
    from serving.desk.queries import record_verdict
    m, info = model
    store = open_store(str(tmp_path / "desk.db"))
    alerts = watch(days[:6], store, m, info).alerts
    cy = analyst_of_key(store, add_analyst(store, "Cy"))
    voy = alerts[alerts["voyage_id"].notna()].drop_duplicates("voyage_id")
    for k, aid in enumerate(voy["alert_id"].iloc[:6]):
        record_verdict(store, cy, int(aid), ("suspicious", "benign", "uncertain")[k % 3])
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    env = {**os.environ, "MLFLOW_TRACKING_URI": uri}
    folder = Path(small_world["positions"]).parent
    r = subprocess.run([str(Path(sys.executable).parent / "darkvoyage"), "train", "--positions", str(folder),
                        "--store", str(tmp_path / "desk.db"), "--promote", "never", "--experiment", "desk"],
                       capture_output=True, text=True, env=env, cwd=ROOT, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    mlflow.set_tracking_uri(uri)
    run = mlflow.search_runs(experiment_names=["desk"], output_format="list")[0]
    assert run.data.params["scenarios"] == "2"
    assert run.data.params["analyst_labels"] == "4"  # 2 suspicious + 2 benign; the uncertain ones left out
    assert int(run.data.params["analyst_vessels"]) >= 1
    # Four verdicts cannot be cross-validated: every row alike, and the run says why.
    assert run.data.params["variant"] == "pooled" and "too few to compare" in run.data.params["variant_reason"]
    bad = subprocess.run([str(Path(sys.executable).parent / "darkvoyage"), "train", "--positions", str(folder),
                          "--store", str(tmp_path / "empty.db"), "--promote", "never"],
                         capture_output=True, text=True, env=env, cwd=ROOT, timeout=300)
    assert bad.returncode == 2 and "no verdicts to learn from" in bad.stderr


def test_an_event_still_going_on_is_extended_not_stored_twice(store, days, model):
    """A run finds an event already stored (same id: kind, vessel, start) with a later end: the
    stored one is extended, no second row, no second alert."""
    m, info = model
    watch(days[:3], store, m, info)
    with store.engine.connect() as c:
        first = c.execute(select(Event.event_id, Event.end)).all()
    before = {r.event_id: r.end for r in first}
    watch([days[3]], store, m, info)
    with store.engine.connect() as c:
        rows = c.execute(select(Event.event_id, Event.end)).all()
    count = pd.Series([r.event_id for r in rows]).value_counts()
    was = pd.Series([r.event_id for r in first]).value_counts()
    assert (count.reindex(was.index) == was).all()  # none stored again (one run may hold two of an id)
    later = [r for r in rows if r.event_id in before and pd.Timestamp(r.end) > pd.Timestamp(before[r.event_id])]
    assert later  # e.g. a stay in port or a gap open at the end of day 3


def test_a_simulated_analyst_works_the_review_queue(days, model, small_world, tmp_path):
    """``demo --review``'s analyst: the first N vessels of the queue (asked again as verdicts
    empty it), each vessel's riskiest voyage judged by its true label, on its open alert or on
    the vessel; a second round goes on with vessels not judged yet."""
    from serving.desk.labels import verdict_labels
    from serving.desk.simulated_analyst import review_round
    from training.labels import assign_labels, read_labels
    m, info = model
    store = open_store(str(tmp_path / "desk.db"))
    watch(days[:6], store, m, info)
    first = review_round(store, small_world["labels"], 30)
    assert len(first) == 30 and first["mmsi"].is_unique  # past the queue's 20: asked again
    assert set(first["pick"]) >= {"top", "near_cut_off"}
    with Session(store.engine) as s:
        voy = pd.DataFrame(s.execute(select(Voyage.voyage_id, Voyage.mmsi, Voyage.start, Voyage.end)).all(),
                           columns=["voyage_id", "mmsi", "start", "end"]).drop_duplicates("voyage_id")
    voy = voy.assign(start=pd.to_datetime(voy["start"], utc=True), end=pd.to_datetime(voy["end"], utc=True))
    truth = assign_labels(voy, read_labels(small_world["labels"])).set_index("voyage_id")["y"]
    assert (first["verdict"].map({"suspicious": 1, "benign": 0}).to_numpy() ==
            truth.loc[first["voyage_id"]].to_numpy()).all()
    second = review_round(store, small_world["labels"], 10)
    assert len(second) == 10 and not set(second["mmsi"]) & set(first["mmsi"])
    labels = verdict_labels(store)
    assert len(labels) == 40 and set(labels["label"]) <= {"suspicious", "benign"}
