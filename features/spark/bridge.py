"""Type bridging between pandas and Spark: Spark schemas of pandas frames, frames in the
dtypes Arrow converts to a schema, and time stamps zoned again after the crossing."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .. import schema as S
from ..clean import validate
from ..config import Config
from .sources import FILE_ID, quoted

def spark_type(dtype):
    from pyspark.sql import types as T
    if isinstance(dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_dtype(dtype):
        return T.TimestampType()
    if pd.api.types.is_bool_dtype(dtype):
        return T.BooleanType()
    if pd.api.types.is_integer_dtype(dtype):
        return T.IntegerType() if np.dtype(getattr(dtype, "numpy_dtype", dtype)).itemsize <= 4 else T.LongType()
    if pd.api.types.is_float_dtype(dtype):
        return T.DoubleType()
    return T.StringType()


def validated_type(name: str, dtype):
    from pyspark.sql import types as T
    if name == "mmsi" or name == S.LINE_COL:
        return T.LongType()
    if name == FILE_ID:
        return T.IntegerType()
    if name == "timestamp":
        return T.TimestampType()
    if name in ("lat", "lon") or name in S.NUMERIC_OPTIONAL:
        return T.DoubleType()
    if name in S.TEXT_OPTIONAL or name in ("raw", S.REASON_COL, S.DETAIL_COL):
        return T.StringType()
    return dtype


def from_spark(pdf: pd.DataFrame) -> pd.DataFrame:
    """Spark hands time stamps over as naive UTC wall time: zone them again."""
    for c in pdf.columns:
        if pd.api.types.is_datetime64_dtype(pdf[c].dtype) and not isinstance(pdf[c].dtype, pd.DatetimeTZDtype):
            pdf[c] = pdf[c].dt.tz_localize("UTC").dt.as_unit("us")
    return pdf


def to_spark(frame: pd.DataFrame, schema) -> pd.DataFrame:
    """``frame`` with exactly ``schema``'s columns, in dtypes Arrow converts to them."""
    from pyspark.sql import types as T
    out = {}
    n = len(frame)
    for f in schema.fields:
        if f.name not in frame:
            out[f.name] = pd.Series([None] * n, dtype=object)
            continue
        col = frame[f.name]
        if isinstance(col.dtype, pd.CategoricalDtype):
            col = col.astype(object).where(col.notna(), None)
        if isinstance(f.dataType, (T.LongType, T.IntegerType)) and not pd.api.types.is_integer_dtype(col.dtype):
            col = col.astype("Int64" if isinstance(f.dataType, T.LongType) else "Int32")
        elif isinstance(f.dataType, T.BooleanType) and col.dtype != bool:
            col = col.astype("boolean")
        elif isinstance(f.dataType, T.StringType) and col.dtype != object:
            # PySpark converts object columns only: Arrow-backed text arrives chunked and fails.
            text = pd.api.types.is_string_dtype(col.dtype)
            col = col.astype(object).where(col.notna(), None)
            if not text:
                col = col.map(lambda v: v if v is None else str(v))
        out[f.name] = col.reset_index(drop=True)
    return pd.DataFrame(out, index=pd.RangeIndex(n))


def validate_fn(schema, cfg: Config, now: pd.Timestamp):
    """Validation per Arrow batch, with the run's settings and start time (every worker judges
    "timestamp out of range" against the same moment)."""
    def fn(batches):
        for b in batches:
            yield to_spark(validate(from_spark(b), cfg, now), schema)
    return fn


def validated_schema(raw_schema):
    from pyspark.sql import types as T
    fields = [T.StructField(f.name, validated_type(f.name, f.dataType)) for f in raw_schema.fields]
    have = {f.name for f in fields}
    fields += [T.StructField(c, T.StringType()) for c in (S.REASON_COL, S.DETAIL_COL) if c not in have]
    return T.StructType(fields + [T.StructField(S.STATIC_COL, T.BooleanType())])


def union(parts):
    """One DataFrame of several validated sources (extras of clashing types become text)."""
    from pyspark.sql import functions as F
    types: dict[str, list] = {}
    for p in parts:
        for f in p.schema.fields:
            types.setdefault(f.name, []).append(f.dataType)
    clash = {c for c, ts in types.items() if len(set(map(str, ts))) > 1}
    out = None
    for p in parts:
        p = p.select(*[quoted(F, c).cast("string").alias(c) if c in clash else quoted(F, c) for c in p.columns])
        out = p if out is None else out.unionByName(p, allowMissingColumns=True)
    return out


def mmsi_key(df, F):
    """The MMSI validation will give each row, as Spark parses it (None where it cannot): rows
    are bucketed by it before validation, so a vessel's rows must agree on it. Spark and pandas
    parse numbers alike; a text Spark cannot parse is no ship-station MMSI to pandas either."""
    from pyspark.sql import types as T
    t = df.schema["mmsi"].dataType
    m = F.col("mmsi")
    if isinstance(t, (T.LongType, T.IntegerType, T.ShortType, T.ByteType)):
        return m.cast("long")
    if isinstance(t, T.StringType):
        return m.try_cast("double").try_cast("long")
    return m.try_cast("long")


def with_fields(schema, extra: dict):
    from pyspark.sql import types as T
    names = {"long": T.LongType(), "double": T.DoubleType(), "int": T.IntegerType(), "boolean": T.BooleanType(),
             "timestamp": T.TimestampType(),
             "string": T.StringType()}
    have = {f.name for f in schema.fields}
    return T.StructType(list(schema.fields) + [T.StructField(k, names[v]) for k, v in extra.items() if k not in have])

