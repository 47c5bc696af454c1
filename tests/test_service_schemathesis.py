"""A bounded schemathesis run against the real `foley serve` (issue 12, item 7): requests
generated from the service's own OpenAPI document (appliance/service/openapi.py), valid and
invalid, sent with the API token; every answer must be declared by the document — status,
content type, headers and body schema — and none may be a 5xx other than the declared refusals;
invalid data and unsupported methods must be refused (4xx, 405 with the right Allow).
Ten generated cases per operation plus schemathesis's own probes (other methods, missing or
malformed parameters): some 750 requests, under a minute. Derandomized, so a failure found here
reproduces on the next run; a longer random run is `CASES_PER_OPERATION` raised by hand."""
from __future__ import annotations

import json
import urllib.request
from collections import Counter

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (allow_header_conformance, content_type_conformance,
                                               missing_required_header, negative_data_rejection,
                                               response_headers_conformance, response_schema_conformance,
                                               status_code_conformance, unsupported_method)

from appliance.service.openapi import document
from tests.conftest import start_server

CASES_PER_OPERATION = 10
# schemathesis's ignored_auth is left out: loopback needs no token by design (docs/api.md), and
# the run is from loopback; the token rules have their own tests (test_service_api.py).
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_headers_conformance,
          response_schema_conformance, allow_header_conformance, unsupported_method, missing_required_header,
          negative_data_rejection]

# 503 (queue full, camera daemon absent: with Retry-After where retrying helps) and 507 (disk
# short) are the service's declared refusals; any other 5xx is a fault.
DECLARED_REFUSALS = ["503", "507"]
schema = schemathesis.openapi.from_dict(document(), config=schemathesis.Config.from_dict(
    {"checks": {"not_a_server_error": {"expected-statuses": ["2xx", "3xx", "4xx", *DECLARED_REFUSALS]}}}))


ANSWERS: Counter = Counter()  # (method path, status) over the run


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    """`foley serve --no-worker` (nothing generated is a clip a worker could score) and its token;
    at the end, the run's size: at least 300 cases, and every operation reached."""
    folder = tmp_path_factory.mktemp("schemathesis")
    served = start_server(folder, env={"FOLEY_STATE_DIR": str(folder / "state")}, args=("--no-worker",))
    with urllib.request.urlopen(f"{served.base}/api/v1/token", timeout=10) as response:
        token = json.loads(response.read())["token"]
    yield served.base, token
    assert served.stop() == 0
    assert "Traceback" not in served.log_path.read_text()
    total = sum(ANSWERS.values())
    print(f"\nschemathesis: {total} cases, statuses {dict(sorted(Counter(s for _, s in ANSWERS.elements()).items()))}")
    assert total >= 300 and len({op for op, _ in ANSWERS}) == len(list(schema.get_all_operations()))


@schema.parametrize()
@settings(max_examples=CASES_PER_OPERATION, deadline=None, database=None, derandomize=True,
          suppress_health_check=list(HealthCheck))
def test_api_conforms_to_its_openapi_document(case, live):
    base, token = live
    response = case.call_and_validate(base_url=base, headers={"Authorization": f"Bearer {token}"}, checks=CHECKS,
                                      timeout=30)
    ANSWERS[(case.operation.label, response.status_code)] += 1
    assert "Traceback" not in response.text
