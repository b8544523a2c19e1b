"""Property-based tests of the live app from its own OpenAPI spec (schemathesis).

Schemathesis generates requests for every operation from the spec the app
serves: valid ones and ones that break the schema (wrong types, missing
fields, ids outside the pattern, ...). Every answer must be a declared
status (no 5xx), with the declared content type and a body that matches the
declared schema (2xx models, and `Problem` for the 4xx). The default run
makes ~120 requests; the slow one makes more than 1000:

    pytest -m slow tests/integration/test_schemathesis.py
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterator

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import (
    content_type_conformance, negative_data_rejection, not_a_server_error, response_headers_conformance,
    response_schema_conformance, status_code_conformance,
)

from serve.ingress import api

pytestmark = pytest.mark.ray

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,  # a request that breaks the schema gets a 4xx
]
# Not positive_data_acceptance: a request valid by the schema may still be refused
# by rules the schema cannot state (an item_id not in the catalogue, k above
# serve.max_k, a timestamp in the future), with a declared 422.


# The spec of the app's FastAPI object, read at import so schemathesis can make
# one test per operation (its lazy `from_fixture` loader does not run on pytest 9);
# test_the_live_app_serves_this_spec checks that the running app serves the same.
# The calls go to the live app at `base_url`.
SPEC = api.openapi()
OPERATIONS = sum(len(methods) for methods in SPEC["paths"].values())
# The short run: random (fuzzing) cases only, valid and schema-breaking.
FUZZING_ONLY = {"phases": {"examples": {"enabled": False}, "coverage": {"enabled": False}}}
quick_schema = schemathesis.openapi.from_dict(SPEC, config=schemathesis.Config.from_dict(FUZZING_ONLY))
# The long run adds the coverage phase: every field missing, of the wrong type,
# at and past each bound (~220 deterministic cases), then the random ones.
full_schema = schemathesis.openapi.from_dict(SPEC)
# The fewest cases each test must send over all operations (hypothesis stops
# early on small input spaces: GET /healthz has one).
MIN_CASES = {"test_api_conforms_to_its_schema": 100, "test_api_conforms_to_its_schema_at_length": 1000}


def _fuzz_settings(per_operation: int, derandomize: bool = False) -> settings:
    # No example database: nothing is written into the working tree and runs are
    # independent. No deadline: a request may wait on the encoder.
    return settings(
        max_examples=per_operation, deadline=None, database=None, suppress_health_check=list(HealthCheck),
        derandomize=derandomize,
    )


@pytest.fixture(scope="module")
def case_counts() -> Iterator[dict[str, dict[str, int]]]:
    """Cases sent per test and operation; a test that ran for every operation must
    have sent at least its MIN_CASES in all."""
    counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    yield counts
    for test, per_operation in counts.items():
        total = sum(per_operation.values())
        print(f"\n{test}: {total} schemathesis cases over {len(per_operation)} operations")
        if len(per_operation) == OPERATIONS:
            assert total >= MIN_CASES[test], f"{test} sent only {total} cases, expected at least {MIN_CASES[test]}"


@pytest.fixture(scope="module", autouse=True)
def _show_what_fuzzing_hid(base_url: str) -> Iterator[None]:
    """POST /items/{id}/hide is fuzzed too, and can hit a real id ("1"): the later tests
    share this app, so every item the cases hid is shown again after them."""
    yield
    with httpx.Client(base_url=base_url, timeout=60) as http:
        for item_id in http.get("/items/hidden").json()["items"]:
            http.post(f"/items/{item_id}/unhide").raise_for_status()


# Query parameters whose values the server reads as text (string lists).
TEXT_QUERY = {q["name"] for methods in SPEC["paths"].values() for operation in methods.values()
              for q in operation.get("parameters", []) if q["in"] == "query" and '"string"' in json.dumps(q["schema"])}


def _breaks_only_text(case: schemathesis.Case) -> bool:
    """Whether every part of the schema a case breaks is a text query parameter. Those
    cannot be broken on the wire: a boolean, number or null is sent as its text
    (`category=false`), a dict is exploded into other parameters, and any text is a
    valid category, so such a case is not a schema-breaking request."""
    data = case.meta.phase.data if case.meta else None
    mutations = getattr(data, "mutations", None) or ()
    broken = {m.parameter for m in mutations} or {getattr(data, "parameter", None)}
    return broken <= TEXT_QUERY


def _call(case: schemathesis.Case, base_url: str, counts: dict[str, dict[str, int]], test: str) -> None:
    counts[test][case.operation.label] += 1
    checks = CHECKS
    if _breaks_only_text(case):
        checks = [check for check in CHECKS if check is not negative_data_rejection]
    case.call_and_validate(base_url=base_url, checks=checks, timeout=60)


def test_the_live_app_serves_this_spec(client: httpx.Client) -> None:
    live = client.get("/openapi.json").json()
    assert live == SPEC, f"the live spec differs at {list(_differences(live, SPEC))[:10]}"


def _differences(live: object, local: object, at: str = "") -> Iterator[str]:
    """JSON pointers where two JSON values differ, as `pointer: live != local`."""
    if isinstance(live, dict) and isinstance(local, dict):
        for key in sorted(live.keys() | local.keys()):
            yield from _differences(live.get(key), local.get(key), f"{at}/{key}")
    elif live != local:
        yield f"{at}: {json.dumps(live)[:80]} != {json.dumps(local)[:80]}"


# Derandomized: the default suite (CI) sends the same cases every run (CI once drew
# `category=false`, a valid name on the wire; _call no longer counts it as schema-breaking).
@_fuzz_settings(per_operation=20, derandomize=True)
@quick_schema.parametrize()
def test_api_conforms_to_its_schema(case: schemathesis.Case, base_url: str, case_counts: dict) -> None:
    _call(case, base_url, case_counts, "test_api_conforms_to_its_schema")


@pytest.mark.slow
@_fuzz_settings(per_operation=150)
@full_schema.parametrize()
def test_api_conforms_to_its_schema_at_length(case: schemathesis.Case, base_url: str, case_counts: dict) -> None:
    _call(case, base_url, case_counts, "test_api_conforms_to_its_schema_at_length")
