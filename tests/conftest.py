from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "data"
REAL = SHARED / "real"
GFW_REGR = REAL / "gfw_gpsdio_segment" / "regr_2021-01"
GFW_MASTER = REAL / "gfw_gpsdio_segment" / "master_fixtures"
NMEA = REAL / "nmea"

os.environ.setdefault("BENTOML_DO_NOT_TRACK", "true")

#: JVM flags for the tests' Spark JVMs (drivers, the standalone cluster's daemons and executors):
#: the C1 compiler alone and the serial collector. A test's JVM lives a minute on a few thousand
#: rows; C2's background compiling and the parallel collector's threads cost a third of its CPU
#: there (one session and two runs on the real files: 81 -> 54 CPU-seconds, same wall time) and
#: pay back only on long jobs, so darkvoyage itself leaves the JVM's defaults alone.
SPARK_TEST_JVM_FLAGS = "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC"
# Every driver PySpark launches (in-process sessions, CLI subprocesses) reads this; the
# standalone cluster's master and worker read SPARK_DAEMON_JAVA_OPTS.
os.environ.setdefault("PYSPARK_SUBMIT_ARGS", f'--conf "spark.driver.defaultJavaOptions={SPARK_TEST_JVM_FLAGS}" pyspark-shell')
os.environ.setdefault("SPARK_DAEMON_JAVA_OPTS", SPARK_TEST_JVM_FLAGS)

# As the CLI and the service run (numpy's huge-page advice off): the in-process tests too.
from features.settings import apply_numpy_memory  # noqa: E402 - after the variables above

apply_numpy_memory()


def pytest_configure(config):
    if not REAL.exists():
        raise pytest.UsageError(f"{REAL} is missing: the tests run against ../shared/data beside the project")


#: Test files that run in one xdist worker as one unit: the Spark files share that worker's JVM
#: and its warm Python workers (on two workers, each started its own: ~20 CPU-seconds more).
#: Every other file is a unit of its own, as under ``--dist loadfile``.
_TOGETHER = {"tests/features/test_spark.py": "spark", "tests/features/test_spark_events.py": "spark"}
#: Units handed out first, longest first, so that the last to finish is a short one (the
#: longest-first rule of scheduling). Each unit's seconds on two workers (2026-12-07): spark
#: 323, gate 153, service 115, desk store 108, desk API 66, simulator 54, events 50, robustness
#: 42, watchlist 41, real files 40, hostile input 33, golden 30, train 30, analyst reference 26.
#: Handed out by number of tests (xdist's order), the Spark files started 250 s in and one
#: worker idled ~60 s at the end; the rest follow in file order.
_LONGEST_FIRST = ("spark", "tests/training/test_gate.py", "tests/serving/test_service.py",
                  "tests/serving/test_desk_store.py", "tests/serving/test_desk_api.py",
                  "tests/training/test_simulator.py", "tests/features/test_events.py",
                  "tests/training/test_robustness.py", "tests/serving/test_watchlist.py",
                  "tests/features/test_real_files.py", "tests/features/test_hostile_input.py", "tests/test_golden.py",
                  "tests/training/test_train.py", "tests/training/test_analyst_reference.py")


def _unit(nodeid: str) -> str:
    module = nodeid.split("::", 1)[0]
    return _TOGETHER.get(module, module)


def pytest_collection_modifyitems(config, items):
    """The long units first (:data:`_LONGEST_FIRST`), the rest in file order."""
    rank = {unit: i for i, unit in enumerate(_LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(_unit(item.nodeid), len(rank)))  # stable: file order within and after


@pytest.hookimpl(optionalhook=True)  # an xdist hook: pytest without xdist runs on
def pytest_xdist_make_scheduler(config, log):
    """Under ``--dist loadfile``: whole units (:data:`_TOGETHER`) in the order collected (``make
    test`` passes ``--no-loadscope-reorder``). xdist's own grouping by mark (``--dist
    loadgroup``) does nothing under pytest 9.2 (pytest-xdist issue #1386)."""
    if config.getvalue("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadFileScheduling

    class _Units(LoadFileScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return _unit(nodeid)

    return _Units(config, log)


def _run_folder(tmp_path_factory) -> Path:
    """A folder of this test run that every xdist worker sees (its workers' common parent)."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


@pytest.fixture(scope="session", autouse=True)
def reference_cache(tmp_path_factory) -> Path:
    """One cache for the whole run (``DARKVOYAGE_CACHE``, shared by the xdist workers and the
    commands tests start): the default reference set is simulated once per run, not once per
    MLflow store; never the cache of the machine's user, so every run builds it afresh."""
    root = _run_folder(tmp_path_factory) / "darkvoyage-cache"
    os.environ["DARKVOYAGE_CACHE"] = str(root)
    return root


@pytest.fixture(scope="session")
def cli_trained(tmp_path_factory, reference_cache) -> tuple[dict, dict]:
    """One model trained by ``darkvoyage train`` (120 vessels x 20 days, seed 21) into an MLflow
    store, once per test run: the first worker to ask trains it under a file lock, the others
    wait and read it. Tests only read this store. (scenario paths, environment with
    ``MLFLOW_TRACKING_URI``)."""
    import fcntl
    import json
    import subprocess
    from tests.servers import EXE
    from training.simulator import SimConfig, simulate, write_scenario
    root = _run_folder(tmp_path_factory) / "cli-trained"
    root.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{root / 'mlflow.db'}"}
    with open(root / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        done = root / "paths.json"
        if not done.exists():
            paths = write_scenario(simulate(SimConfig(vessels=120, days=20, seed=21, suspicious_share=0.2)), root / "sim")
            res = subprocess.run([EXE, "train", "--positions", paths["positions"], "--labels", paths["labels"]],
                                 env=env, capture_output=True, text=True, timeout=600)
            assert res.returncode == 0, res.stderr
            done.write_text(json.dumps({k: str(v) for k, v in paths.items()}))
        paths = json.loads(done.read_text())
    return paths, env


@pytest.fixture(scope="session")
def gaz():
    from features.gazetteer import load_gazetteer
    return load_gazetteer()


@pytest.fixture(scope="session")
def real_files() -> list[Path]:
    return sorted(GFW_REGR.glob("*.json")) + sorted(GFW_MASTER.glob("*.json")) + sorted(NMEA.glob("*.txt"))


@pytest.fixture(scope="session")
def small_world(tmp_path_factory) -> dict:
    """One small labelled training world (160 vessels x 24 days, seed 5), simulated once for
    every module that trains on it; tests write their variants (shuffled labels) elsewhere."""
    from training.simulator import SimConfig, simulate, write_scenario
    return write_scenario(simulate(SimConfig(vessels=160, days=24, seed=5, suspicious_share=0.2)),
                          tmp_path_factory.mktemp("small_world"))
