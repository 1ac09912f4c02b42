"""The reference set: labelled voyages no training run learns from, on which every run is
measured and the promotion gate compares champion and candidate.

Default: a scenario simulated in a reserved world (:data:`REFERENCE_WORLD_SEED`) with its own
simulation seed, built once per tracking store and kept there as a run of the experiment
:data:`REFERENCE_EXPERIMENT` (positions, labels and the labelled voyage table as artifacts).
Later runs find it by a key of everything it depends on (seeds, size, feature-code version,
simulator source) and reuse it, so its digest is the same on every run. An analyst can bring
their own instead (``darkvoyage train ... --reference POSITIONS LABELS``).

Every training run records the set it was measured on as an MLflow dataset input
(context ``reference``), with the digest of the whole voyage table.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import tempfile
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from features.config import FEATURE_CODE_VERSION, Config
from features.gazetteer import Gazetteer
from features.catalogue import FEATURE_NAMES

from .scenarios import ScenarioInput, scenario_table

log = logging.getLogger(__name__)

REFERENCE_EXPERIMENT = "voyage-risk-reference"
#: The reserved world: no training scenario may be simulated in it (training refuses one whose
#: world.json carries this seed), so the reference world's reception, traffic and behaviour
#: parameters are never learnt.
REFERENCE_WORLD_SEED = 90_210_001
#: The reference scenario's own simulation seed (fleet, voyages, receptions).
REFERENCE_SIM_SEED = 90_210_002
#: 500 vessels x 30 days with 30 % of the fleet suspicious: 4,763 labelled voyages, 152 of
#: them suspicious (simulator of darkvoyage 0.5.0); builds in ~15 s. (400 vessels at 15 %
#: gave only 57 suspicious voyages and a bootstrap interval of +-0.1 AP: too blunt a gate.)
REFERENCE_VESSELS = 500
REFERENCE_DAYS = 30.0
REFERENCE_SUSPICIOUS_SHARE = 0.30
#: Artifact folder of the reference run and the files in it.
ARTIFACT_DIR = "reference"
VOYAGES_FILE = "voyages.parquet"
#: The simulator's modules key the default reference set, so a changed simulator builds a new
#: reference set (the old one stays in the store under its own key). Its leakage audit reads
#: scenarios and makes none.
_SIMULATOR_DIR = Path(__file__).resolve().parent / "simulator"
_NOT_SIMULATOR = {"audit.py"}
#: How :func:`table_digest` reads floats; in the key, so a store's set tagged with another
#: form's digest is built again rather than read back under a digest that disagrees with its tag.
DIGEST_FORM = "float32"
#: Columns of the MLflow dataset record (schema and profile); the digest covers every column.
_IDENTITY = ["voyage_id", "vessel_group", "mmsi", "start", "end", "y", "behaviour"]


@dataclass
class ReferenceSet:
    """Labelled reference voyages (``y`` 0/1, ``behaviour``, ``vessel_group``) and where they
    come from."""

    name: str
    voyages: pd.DataFrame
    digest: str
    source: str
    run_id: str | None = None

    @property
    def feature_code_version(self) -> str:
        return str(self.voyages.attrs.get("feature_code_version", FEATURE_CODE_VERSION))


# --- the table -------------------------------------------------------------------------------

def reference_frame(labelled: pd.DataFrame) -> pd.DataFrame:
    """The labelled voyages of a scenario table, ``y`` as int, one vessel group per MMSI."""
    out = labelled[labelled["y"].notna()].drop(columns=["label_idx"], errors="ignore").reset_index(drop=True)
    out["y"] = out["y"].astype(np.int64)
    out["behaviour"] = out["behaviour"].fillna("").astype(str)
    if "vessel_group" not in out:
        out["vessel_group"] = out["mmsi"].astype(np.int64)
    return out


def table_digest(df: pd.DataFrame) -> str:
    """SHA-256 (first 20 hex digits) over every row and column of the table, order included.

    Floats are hashed as float32: numpy computes distances and angles with other SIMD code on
    another CPU, and the same set built there differs in the last bit of a few values (~1e-16
    relative); as float32 they hash alike unless one sits on a rounding boundary (~1 in 5e8).

    >>> df = pd.DataFrame({"km": [1.0, 2.5], "y": [0, 1]})
    >>> table_digest(df) == table_digest(df.assign(km=np.nextafter(df["km"], 3.0)))
    True
    >>> table_digest(df) == table_digest(df.assign(km=[1.0, 2.6]))
    False
    """
    h = hashlib.sha256()
    h.update("\x1f".join(map(str, df.columns)).encode())
    as32 = df.astype(dict.fromkeys(df.select_dtypes("floating").columns, "float32"))
    h.update(pd.util.hash_pandas_object(as32, index=False).to_numpy().tobytes())
    return h.hexdigest()[:20]


def _round_trip(df: pd.DataFrame, folder: Path) -> tuple[pd.DataFrame, Path]:
    """Write the table as Parquet and read it back: the digest is taken of what a later run
    will read, so a stored set and a fresh one hash alike."""
    path = folder / VOYAGES_FILE
    df.to_parquet(path, index=False)
    return pd.read_parquet(path), path


def analyst_reference(positions, labels, gaz: Gazetteer, cfg: Config, stage=lambda s: None) -> ReferenceSet:
    """The analyst's own reference set from a positions file (or folder) and a label file."""
    from .scenarios import pair_inputs
    source = pair_inputs([positions], [labels])[0]
    stage("reference set")
    frame = reference_frame(scenario_table(source, gaz, cfg).voyages)
    _check_usable(frame, str(positions))
    with tempfile.TemporaryDirectory() as tmp:
        frame, _ = _round_trip(frame, Path(tmp))
    return ReferenceSet(f"reference:{Path(positions).name}", frame, table_digest(frame),
                        str(Path(positions).resolve()))


def _check_usable(frame: pd.DataFrame, where: str) -> None:
    from .tracking import TrainingError
    y = frame["y"].to_numpy(int)
    if y.sum() < 2 or (y == 0).sum() < 2 or pd.Series(frame["vessel_group"]).nunique() < 4:
        raise TrainingError(f"{where}: reference set too small ({len(frame)} labelled voyages, {int(y.sum())} "
                            "suspicious); it needs >= 2 of each class on >= 4 vessels")


# --- the default reference set -----------------------------------------------------------------

def sim_config():
    """The SimConfig of the default reference scenario."""
    from .simulator import SimConfig
    return SimConfig(vessels=REFERENCE_VESSELS, days=REFERENCE_DAYS, seed=REFERENCE_SIM_SEED,
                     world_seed=REFERENCE_WORLD_SEED, suspicious_share=REFERENCE_SUSPICIOUS_SHARE)


def reference_key(cfg: Config) -> dict:
    """Everything the default reference set depends on; its hash finds the stored set."""
    code = hashlib.sha256()
    for f in sorted(_SIMULATOR_DIR.glob("*.py")):
        if f.name not in _NOT_SIMULATOR:
            code.update(f.name.encode() + f.read_bytes())
    sim = dataclasses.asdict(sim_config())
    params = {"world_seed": REFERENCE_WORLD_SEED, "sim_seed": REFERENCE_SIM_SEED, "vessels": REFERENCE_VESSELS,
              "days": REFERENCE_DAYS, "sim_config": repr(sorted(sim.items())), "feature_code_version": FEATURE_CODE_VERSION,
              "feature_config": repr(sorted(cfg.to_dict().items())), "simulator_code": code.hexdigest()[:16],
              "digest": DIGEST_FORM}
    params["key"] = hashlib.sha256(repr(sorted(params.items())).encode()).hexdigest()[:16]
    return params


def default_reference(gaz: Gazetteer, cfg: Config, stage=lambda s: None) -> ReferenceSet:
    """The stored default reference set, built and stored first if this store has none."""
    import mlflow
    from mlflow import MlflowClient
    key = reference_key(cfg)
    exp = _reference_experiment()
    client = MlflowClient()
    found = client.search_runs([exp], filter_string=f"tags.`darkvoyage.reference_key` = '{key['key']}' "
                                                    "and attributes.status = 'FINISHED'",
                               order_by=["attributes.start_time ASC"], max_results=1)
    if found:
        run = found[0]
        stage("reference set (stored)")
        with tempfile.TemporaryDirectory() as tmp:
            path = mlflow.artifacts.download_artifacts(run_id=run.info.run_id, artifact_path=f"{ARTIFACT_DIR}/{VOYAGES_FILE}",
                                                       dst_path=tmp)
            frame = pd.read_parquet(Path(path))
        digest = table_digest(frame)
        if digest != run.data.tags.get("darkvoyage.reference_digest"):
            log.warning("stored reference set %s reads back with digest %s, not %s", run.info.run_id, digest,
                        run.data.tags.get("darkvoyage.reference_digest"))
        return ReferenceSet(REFERENCE_EXPERIMENT, frame, digest, run.info.artifact_uri, run.info.run_id)
    return _build_default(exp, key, gaz, cfg, stage)


def _reference_experiment() -> str:
    from .tracking import create_experiment
    return create_experiment(REFERENCE_EXPERIMENT)


def _build_default(exp_id: str, key: dict, gaz: Gazetteer, cfg: Config, stage) -> ReferenceSet:
    """Store the reference scenario and its labelled voyage table as a run of the reference
    experiment (both from this machine's cache, :func:`_cached_files`)."""
    import mlflow
    folder = _cached_files(key, gaz, cfg, stage)
    frame = pd.read_parquet(folder / VOYAGES_FILE)
    digest = table_digest(frame)
    with mlflow.start_run(experiment_id=exp_id, run_name=f"reference-{key['key']}", nested=mlflow.active_run() is not None) as run:
        mlflow.log_params({k: str(v)[:500] for k, v in key.items()})
        mlflow.log_params({"labelled_voyages": len(frame), "suspicious_voyages": int(frame["y"].sum()),
                           "vessel_groups": int(frame["vessel_group"].nunique())})
        mlflow.set_tags({"darkvoyage.reference_key": key["key"], "darkvoyage.reference_digest": digest})
        for f in sorted((folder / "scenario").iterdir()):
            mlflow.log_artifact(str(f), ARTIFACT_DIR)
        mlflow.log_artifact(str(folder / VOYAGES_FILE), ARTIFACT_DIR)
        ref = ReferenceSet(REFERENCE_EXPERIMENT, frame, digest, run.info.artifact_uri, run.info.run_id)
        log_reference_input(ref)
    log.info("stored reference set %s: %d voyages, digest %s", ref.run_id, len(frame), digest)
    return ref


def _cached_files(key: dict, gaz: Gazetteer, cfg: Config, stage) -> Path:
    """The folder with the reference scenario (``scenario/``) and its voyage table: simulated
    once per machine and key (the key covers the simulator's code, the feature code and the
    config), then read from the cache (``DARKVOYAGE_CACHE``) by every store. Written under a
    temporary name and renamed whole, so a reader never sees half of it."""
    from features.settings import cache_dir
    final = cache_dir() / "reference" / key["key"]
    if not (final / VOYAGES_FILE).is_file():
        final.parent.mkdir(parents=True, exist_ok=True)
        with _one_builder(final.parent / f".{key['key']}.lock"):
            if not (final / VOYAGES_FILE).is_file():  # else another process built it while this one waited
                stage("reference set (simulating, once per machine)")
                _build_files(final, gaz, cfg, stage)
                return final
    stage("reference set (cached)")
    return final


@contextmanager
def _one_builder(lock: Path):
    """Hold ``lock`` exclusively (POSIX ``flock``, released when the process dies): two
    commands that need the same missing set at once (a desk's daily run and a training run,
    pytest's workers) build it once, the second waits and reads it (two built it side by side,
    each ~20 s of CPU). Without ``fcntl`` (Windows) each builds its own; the rename keeps one."""
    try:
        import fcntl
    except ImportError:
        yield
        return
    with open(lock, "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        yield


def _build_files(final: Path, gaz: Gazetteer, cfg: Config, stage) -> None:
    """Simulate the reference scenario and write it with its voyage table to ``final``."""
    import os
    import shutil
    from .simulator import simulate, write_scenario
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}-", dir=final.parent))
    try:
        paths = write_scenario(simulate(sim_config()), tmp / "scenario")
        stage("reference set (features)")
        table = scenario_table(ScenarioInput((Path(paths["positions"]),), Path(paths["labels"])), gaz, cfg)
        reference_frame(table.voyages).to_parquet(tmp / VOYAGES_FILE, index=False)  # read back by every store
        try:
            os.rename(tmp, final)
        except OSError:  # another process cached it first: theirs is the same set
            if not (final / VOYAGES_FILE).is_file():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


# --- recording -------------------------------------------------------------------------------

def dataset_frame(ref: ReferenceSet) -> pd.DataFrame:
    """The columns of the dataset record: identity, label, behaviour and the model features."""
    cols = [c for c in _IDENTITY + FEATURE_NAMES if c in ref.voyages.columns]
    return ref.voyages[cols]


def log_reference_input(ref: ReferenceSet) -> None:
    """Record the reference set on the active run as a dataset input (context ``reference``)
    with the digest of the whole table, plus its source as parameters."""
    import mlflow
    from mlflow.exceptions import MlflowException
    df = dataset_frame(ref)
    with warnings.catch_warnings():  # "source can be interpreted in multiple ways": all local
        warnings.simplefilter("ignore", UserWarning)
        try:
            ds = mlflow.data.from_pandas(df, source=ref.source, targets="y", name=ref.name, digest=ref.digest)
        except MlflowException:  # a source URI MLflow cannot resolve (a remote artifact store, say)
            ds = mlflow.data.from_pandas(df, targets="y", name=ref.name, digest=ref.digest)
        mlflow.log_input(ds, context="reference")  # (schema inference warns about integer columns)
    mlflow.set_tags({"darkvoyage.reference_digest": ref.digest, "darkvoyage.reference_run": ref.run_id or "",
                     "darkvoyage.reference_source": ref.source[:500]})
