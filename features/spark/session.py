"""The Spark session: started (or joined, under ``spark-submit``) with darkvoyage's settings."""

from __future__ import annotations

import os
import sys
import warnings
from pathlib import Path

from ..errors import EngineError
from ..settings import settings

#: Rows per Arrow batch between the JVM and Python: validation has a fixed cost per call.
ARROW_BATCH_ROWS = 100_000
#: Shuffle partitions, and so MMSI buckets, on a local master. Each bucket is one pandas frame
#: of whole vessels; a few per core keep every frame small (10 M rows: ~600 k per bucket). On a
#: cluster the count is ``spark.sql.shuffle.partitions``: aim for under ~1 M rows per bucket.
LOCAL_SHUFFLE_PARTITIONS = 16
#: Driver heap for local masters: the default 1 GB spills the shuffle of 10 M rows to disk.
SPARK_CONF = {
    "spark.sql.session.timeZone": "UTC",  # time stamps cross to pandas as UTC wall time
    "spark.sql.execution.arrow.maxRecordsPerBatch": str(ARROW_BATCH_ROWS),
    "spark.sql.execution.arrow.pyspark.enabled": "true",  # small results come to the driver as Arrow
    "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",  # not INT96: pyarrow reads it zoned
    "spark.ui.showConsoleProgress": "false",  # the CLI shows its own stages
}


class SparkError(EngineError):
    """The Spark engine cannot run (PySpark or Java missing, cluster unreachable)."""


#: What to say when PySpark is not installed: the command that installs it.
NO_PYSPARK = ("--engine spark needs PySpark: install the extra with `uv sync --extra spark` "
              "(or `pip install 'darkvoyage[spark]'`)")


def require_pyspark() -> None:
    """Raise :class:`SparkError` at once, naming the install command, when PySpark cannot be
    imported (before any job starts and meets the missing module half-way)."""
    try:
        import pyspark.sql  # noqa: F401
    except ImportError:
        raise SparkError(NO_PYSPARK) from None


def session(master: str | None = None):
    """The Spark session: ``master`` if given (``local[2]``, ``spark://host:7077``, ``yarn``),
    else whatever ``spark-submit`` configured, else ``local[*]``."""
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        raise SparkError(NO_PYSPARK) from None
    # PySpark warns that pandas >= 3 is not fully supported; what darkvoyage uses is tested.
    warnings.filterwarnings("ignore", message="PySpark does not yet fully support pandas", category=FutureWarning)
    os.environ.setdefault("PYTHONWARNINGS", "ignore::FutureWarning")  # the same, in Python workers
    # Under spark-submit the JVM is up and configured already (the gateway port is set).
    submitted = "PYSPARK_GATEWAY_PORT" in os.environ
    local = master.startswith("local") if master else not submitted
    if local and "PYSPARK_PYTHON" not in os.environ:
        os.environ["PYSPARK_PYTHON"] = sys.executable  # workers run this interpreter and its packages
    b = SparkSession.builder.appName("darkvoyage")
    if master:
        b = b.master(master)
    for k, v in SPARK_CONF.items():
        b = b.config(k, v)
    if local:
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")  # no network needed, no hostname warnings
        b = b.config("spark.driver.memory", settings().spark_driver_memory)
        log4j = Path(__file__).parent.parent / "data" / "spark-log4j2.properties"
        b = b.config("spark.driver.extraJavaOptions", f"-Dlog4j2.configurationFile=file:{log4j}")
    try:
        spark = b.getOrCreate()
    except Exception as err:  # noqa: BLE001 - PySpark raises a bare runtime error without Java
        raise SparkError(f"Spark did not start ({type(err).__name__}: {str(err).splitlines()[0][:200]}); "
                         "it needs Java 17 (`java -version`)") from None
    spark.sparkContext.setLogLevel("ERROR")
    if spark.sparkContext.master.startswith("local") and not spark.sparkContext.getConf().contains("spark.sql.shuffle.partitions"):
        # 200 shuffle partitions (the cluster default) are mostly task overhead on one machine.
        spark.conf.set("spark.sql.shuffle.partitions", str(LOCAL_SHUFFLE_PARTITIONS))
    return spark


def buckets(spark) -> int:
    """MMSI buckets: one pandas frame of whole vessels each, one per shuffle partition."""
    return int(spark.conf.get("spark.sql.shuffle.partitions"))


def mmsi_bucket(spark, column: str = "mmsi"):
    """The MMSI bucket of a row (a Spark column): every row of a vessel lands in the same one."""
    from pyspark.sql import functions as F
    return F.pmod(F.xxhash64(column), F.lit(buckets(spark)))
