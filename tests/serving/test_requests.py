"""A /score request as the scoring code sees it: times, columns, the reader's bookkeeping."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pytest

from serving.request_models import TrackIn, datetimes_us, track_frame


def _reference_us(times):
    """One object at a time, as the code before the speed work did it."""
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    return [((t if t.tzinfo else t.replace(tzinfo=UTC)) - epoch) // timedelta(microseconds=1) for t in times]


@pytest.mark.parametrize("times", [
    [datetime(2024, 3, 1, 5, 0, 0, 123456, tzinfo=UTC), datetime(2024, 3, 1, 5, 0, 1)],  # aware and zone-less
    [datetime(1999, 12, 31, 23, 59, 59, 999999, tzinfo=timezone(timedelta(hours=-5, minutes=-30))),
     datetime(2000, 1, 1, 3, 0, tzinfo=timezone(timedelta(hours=3))), datetime(2000, 1, 1, tzinfo=UTC)],
    [datetime(1, 1, 1), datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC), datetime(1969, 12, 31, 23, 59)],
    # A zone whose offset depends on the date (Moscow was +04 in 2012, +03 from 2014).
    [datetime(2012, 6, 1, 12, tzinfo=ZoneInfo("Europe/Moscow")), datetime(2015, 6, 1, 12, tzinfo=ZoneInfo("Europe/Moscow"))],
])
def test_datetimes_us_is_the_per_object_subtraction(times):
    assert datetimes_us(times).tolist() == _reference_us(times)


def test_track_frame_has_the_given_fields_the_reader_columns_and_utc_times():
    body = {"mmsi": 273123456, "positions": [
        {"timestamp": "2024-03-01T08:00:00+03:00", "lat": 41.2, "lon": 51.3, "sog": None, "name": "VOLGA"},
        {"timestamp": "2024-03-01T06:00:00", "lat": 41.3, "lon": 51.4, "sog": 9.5}]}
    t = TrackIn.model_validate_json(json.dumps(body))
    f = track_frame(t.mmsi, t.positions)
    assert list(f.columns) == ["mmsi", "timestamp", "lat", "lon", "sog", "name", "_line", "_file"]
    assert f["timestamp"].tolist() == [pd.Timestamp("2024-03-01T05:00:00Z"), pd.Timestamp("2024-03-01T06:00:00Z")]
    assert str(f["timestamp"].dtype) == "datetime64[us, UTC]"
    assert f["sog"].dtype == np.float64 and np.isnan(f["sog"].iloc[0]) and f["sog"].iloc[1] == 9.5
    assert f["name"].tolist()[0] == "VOLGA" and f["name"].isna().tolist() == [False, True]
    assert f["_line"].tolist() == [1, 2] and f["_file"].astype(str).tolist() == ["request", "request"]


@pytest.mark.parametrize("name", ["serving.request_models", "serving.scoring", "serving.cli_desk", "serving.desk.alerts", "serving.desk.card",
                                  "serving.desk.store", "serving.desk.watch"])
def test_docstring_examples(name):
    import doctest
    import importlib
    result = doctest.testmod(importlib.import_module(name))
    assert result.attempted and result.failed == 0


@pytest.mark.parametrize("started", [False, True], ids=["before answering", "after a 4xx start"])
def test_a_fault_in_a_desk_route_is_answered_500_and_logged(caplog, started):
    """A fault of ours behind a desk route (a column the code forgot to read, say) is one 500
    answer with the error logged, never a request left waiting with nothing in the log (it was:
    BentoML's middleware chain swallowed the exception); also when the route had begun a 4xx
    answer, which the gate holds back to reshape and so never sent."""
    import logging

    import anyio
    import httpx
    from serving.http_gate import Gate

    class BrokenDesk:
        serves = staticmethod(lambda path: True)

        async def __call__(self, scope, receive, send, *args):
            if started:
                await send({"type": "http.response.start", "status": 404, "headers": []})
            raise KeyError("detail")

    async def app(scope, receive, send):  # the service behind the gate: never reached
        raise AssertionError(scope["path"])

    gate = Gate(app)
    gate.desk = BrokenDesk()

    async def get():
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=gate), base_url="http://desk") as client:
            return await client.get("/review")

    with caplog.at_level(logging.ERROR, logger="darkvoyage.service"):
        r = anyio.run(get)
    assert r.status_code == 500 and r.json()["error"] == "internal error"
    assert "internal error on GET /review" in caplog.text and "KeyError: 'detail'" in caplog.text


def test_a_full_batch_queue_is_answered_busy_with_retry_after():
    """BentoML answers 503 "An unexpected error has occurred, please check the server log." when
    a /score_voyages request waited its batch queue's limit: the gate says busy and when to come
    back instead (a 500 of BentoML's still passes as it is)."""
    import anyio
    import httpx
    from serving.http_gate import Gate

    async def bentoml(scope, receive, send):  # what BentoML sends once the dispatcher gave up
        status = 503 if scope["path"] == "/score_voyages" else 500
        body = json.dumps({"error": "An unexpected error has occurred, please check the server log."}).encode()
        await send({"type": "http.response.start", "status": status, "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": body})

    gate = Gate(bentoml)
    gate.api_key = ""

    async def post(path):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=gate), base_url="http://svc") as client:
            return await client.post(path, json={"voyages": []})

    r = anyio.run(post, "/score_voyages")
    assert r.status_code == 503 and r.headers["retry-after"] == "1"
    assert r.json()["error"] == "busy" and "retry" in r.json()["problem"]
    r = anyio.run(post, "/score")
    assert r.status_code == 500 and "unexpected error" in r.json()["error"] and "retry-after" not in r.headers
