"""The OpenAPI document describes exactly the routes the app serves."""
from __future__ import annotations

import re

from tests.test_service_api import make_client


def test_openapi_matches_the_routes(tmp_path):
    client, _, _ = make_client(tmp_path)
    document = client.get("/api/v1/openapi.json").get_json()
    assert document["openapi"].startswith("3.1")
    documented = {(path, method.upper()) for path, item in document["paths"].items() for method in item}
    served = set()
    for rule in client.application.url_map.iter_rules():
        if rule.endpoint == "static" or rule.rule == "/" or rule.rule.startswith("/static"):
            continue
        path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule)
        served |= {(path, m) for m in rule.methods - {"HEAD", "OPTIONS"}}
    assert documented == served
