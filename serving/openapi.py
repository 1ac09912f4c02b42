"""The served OpenAPI document, completed: every route's error answers as ``{error, field,
problem}``, ``GET /model``, the API-key scheme, required request bodies, and no advertised
500 (the schema fuzzer in the tests reads this document)."""

from __future__ import annotations

from features.settings import settings
from serving.request_models import BATCH_QUEUE_LIMIT_MS

PROBLEM_SCHEMA = {"type": "object", "required": ["error", "field", "problem"], "properties": {
    "error": {"type": "string"}, "field": {"type": "string", "description": "the field, header or limit at fault"},
    "problem": {"type": "string"}}}


def document(doc: dict) -> dict:
    """Amend BentoML's OpenAPI document with the gate's answers and ``GET /model``."""
    doc.setdefault("components", {}).setdefault("schemas", {})["Problem"] = PROBLEM_SCHEMA
    ref = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Problem"}}}}
    answers = {"400": "Bad request: a field, the JSON or the upload; `field` names it",
               "401": "Missing or wrong `x-api-key` (when DARKVOYAGE_API_KEY is set)",
               "404": "No such route", "405": "Method not allowed",
               "413": "Request body over the byte limit (read or decompressed)",
               "415": "Content type or encoding the route does not take",
               "422": "Over a count limit (positions per track, voyages per request)"}
    for path in ("/score", "/score_voyages", "/watchlist"):
        op = doc.get("paths", {}).get(path, {}).get("post")
        if not op:
            continue
        op.setdefault("requestBody", {})["required"] = True
        responses = op.setdefault("responses", {})
        responses.pop("500", None)
        for code, text in answers.items():
            responses[code] = {"description": text, **ref}
        if path == "/score_voyages":  # its batch queue's limit
            responses["503"] = {"description": f"Busy: waited {BATCH_QUEUE_LIMIT_MS / 1000:g} s in the batch queue; "
                                "retry (Retry-After)", **ref}
    if settings().api_key:  # say so, and which routes: a fuzzer then checks they refuse requests without it
        doc["components"].setdefault("securitySchemes", {})["apiKey"] = {"type": "apiKey", "in": "header",
                                                                         "name": "x-api-key"}
        for path in ("/score", "/score_voyages", "/watchlist"):
            if "post" in doc.get("paths", {}).get(path, {}):
                doc["paths"][path]["post"]["security"] = [{"apiKey": []}]
    doc.setdefault("paths", {})["/model"] = {"get": {
        "summary": "The served model: name, version, run id, training metrics, feature list",
        "responses": {"200": {"description": "model card", "content": {"application/json": {
            "schema": {"type": "object"}}}}, "401": {"description": answers["401"], **ref}},
        **({"security": [{"apiKey": []}]} if settings().api_key else {})}}
    if settings().store:
        desk_paths(doc, ref, answers)
    return doc


def desk_paths(doc: dict, ref: dict, answers: dict) -> None:
    """The desk's routes (a store is served): GET /alerts, GET /vessels/{mmsi}, POST /verdicts."""
    from serving.desk.models import ALERT_STATUS, VERDICTS
    key = {"security": [{"apiKey": []}]} if settings().api_key else {}
    doc["components"].setdefault("securitySchemes", {})["apiKey"] = {"type": "apiKey", "in": "header",
                                                                     "name": "x-api-key"}
    err = {**{c: {"description": answers[c], **ref} for c in ("400", "401")},
           "404": {"description": "No such alert or vessel in the store", **ref}}
    listing = {"200": {"description": "JSON", "content": {"application/json": {"schema": {"type": "array"}}}}}
    card = {"200": {"description": "JSON", "content": {"application/json": {"schema": {"type": "object"}}}}}
    doc["paths"]["/alerts"] = {"get": {"summary": "Alerts, the latest run first, riskiest vessel first", "parameters": [
        {"name": "status", "in": "query", "required": False, "schema": {"type": "string", "enum": list(ALERT_STATUS)}},
        {"name": "since", "in": "query", "required": False, "schema": {"type": "string", "format": "date-time"}}],
        "responses": {**listing, "400": err["400"], "401": err["401"]}, **key}}
    doc["paths"]["/review"] = {"get": {"summary": "The vessels to judge next, each with why",
                                       "responses": {**listing, "400": err["400"], "401": err["401"]}, **key}}
    doc["paths"]["/vessels"] = {"get": {"summary": "Vessels by MMSI, IMO or part of a name", "parameters": [
        {"name": "q", "in": "query", "required": True, "schema": {"type": "string", "maxLength": 100,
                                                                  "pattern": "^[^\\u0000]*$"}}],
        "responses": {**listing, "400": err["400"], "401": err["401"]}, **key}}
    doc["paths"]["/"] = {"get": {"summary": "The analysts' desk (HTML)", "responses": {"200": {
        "description": "the page", "content": {"text/html": {"schema": {"type": "string"}}}}}}}
    doc["paths"]["/vessels/{mmsi}"] = {"get": {"summary": "A vessel's standing, voyages, events, alerts, verdicts",
        "parameters": [{"name": "mmsi", "in": "path", "required": True,
                        "schema": {"type": "integer", "minimum": 1, "maximum": 999_999_999}}],
        "responses": {**card, "401": err["401"], "404": err["404"], "422": {"description": "Not an MMSI", **ref}},
        **key}}
    doc["paths"]["/vessels/{mmsi}/card"] = {"get": {"summary": "A vessel's evidence card (HTML)", "parameters": [
        {"name": "mmsi", "in": "path", "required": True, "schema": {"type": "integer", "minimum": 1, "maximum": 999_999_999}}],
        "responses": {"200": {"description": "the card", "content": {"text/html": {"schema": {"type": "string"}}}},
                      "401": err["401"], "404": err["404"], "422": {"description": "Not an MMSI", **ref}}, **key}}
    common = {"verdict": {"type": "string", "enum": list(VERDICTS)},
              "note": {"type": "string", "maxLength": 4000, "pattern": "^[^\\u0000]*$"}}
    on = {"alert_id": {"type": "integer", "minimum": 1, "maximum": 2**62},  # an alert, or a vessel without one
          "mmsi": {"type": "integer", "minimum": 1, "maximum": 999_999_999}}
    doc["paths"]["/verdicts"] = {"post": {"summary": "An analyst's verdict on an alert, or on a vessel no run alerted "
                                                     "on (X-API-Key: the analyst's)",
        "requestBody": {"required": True, "content": {"application/json": {"schema": {"oneOf": [
            {"type": "object", "additionalProperties": False, "required": [target, "verdict"],
             "properties": {target: on[target], **common}} for target in on]}}}},
        "responses": {**card, "400": err["400"], "401": err["401"], "404": err["404"],
                      "413": {"description": "Over 64 KB", **ref}, "415": {"description": answers["415"], **ref}},
        "security": [{"apiKey": []}]}}
