"""The OpenAPI document describes exactly the routes the app serves."""
from __future__ import annotations

import re

from tests.test_service_api import TOKEN, make_client, upload
from tests.test_service_api import clip_bytes  # noqa: F401  (module fixture)


def test_openapi_matches_the_routes(tmp_path):
    client, _, _ = make_client(tmp_path)
    document = client.get("/api/v1/openapi.json").get_json()
    assert document["openapi"].startswith("3.1")
    documented = {(path, method.upper()) for path, item in document["paths"].items() for method in item}
    served = set()
    for rule in client.application.url_map.iter_rules():
        if rule.endpoint == "static" or rule.rule == "/" or rule.rule.startswith("/static"):
            continue
        path = re.sub(r"<(?:\w+(?:\([^)]*\))?:)?(\w+)>", r"{\1}", rule.rule)
        served |= {(path, m) for m in rule.methods - {"HEAD", "OPTIONS"}}
    assert documented == served


def test_every_status_and_content_type_answered_is_documented(tmp_path, clip_bytes):  # noqa: F811
    """Good, bad and hostile requests to every route: each (route, method, status, content type)
    answered is declared in the document, and no request is answered 500."""
    import io

    from flask import request

    client, _, _ = make_client(tmp_path)
    seen = []

    @client.application.after_request
    def record(response):
        rule = request.url_rule.rule if request.url_rule else None
        has_body = response.direct_passthrough or response.is_streamed or bool(response.get_data())
        seen.append((rule, request.method, response.status_code, response.mimetype if has_body else None))
        return response

    document = client.get("/api/v1/openapi.json").get_json()
    lan = {"REMOTE_ADDR": "192.168.1.50"}
    worker = {"X-Foley-Worker": "board:123"}
    job_id = upload(client, clip_bytes, description="knock").get_json()["id"]
    missing = "0123456789abcdef"
    for call in [
        lambda: client.get("/healthz"), lambda: client.get("/metrics"), lambda: client.get("/api/v1/version"),
        lambda: client.get("/api/v1/jobs"), lambda: client.get(f"/api/v1/jobs/{job_id}"),
        lambda: client.get(f"/api/v1/jobs/{missing}"), lambda: client.get(f"/api/v1/jobs/{job_id}/audio.wav"),
        lambda: client.get(f"/api/v1/jobs/{job_id}/timeline.json"), lambda: client.get(f"/api/v1/jobs/{job_id}/x.txt"),
        lambda: client.get(f"/api/v1/jobs/{job_id}/credits.txt"), lambda: client.get(f"/api/v1/jobs/{job_id}/mix.wav"),
        lambda: client.get(f"/api/v1/jobs/{job_id}/thumbnail.jpg"), lambda: client.get(f"/api/v1/jobs/{missing}/thumbnail.jpg"),
        lambda: client.get("/api/v1/status"), lambda: upload(client, clip_bytes, keep_audio="maybe"),
        lambda: client.get(f"/api/v1/jobs/{job_id}/events/0/candidates"),
        lambda: client.get(f"/api/v1/jobs/{job_id}/events/999/candidates"),
        lambda: client.post(f"/api/v1/jobs/{job_id}/events/0", json={"nope": 1}),
        lambda: client.post(f"/api/v1/jobs/{missing}/events/0", json={"template_id": "x"}),
        lambda: client.post(f"/api/v1/jobs/{job_id}/events/0", data="[" * 5000, content_type="application/json"),
        lambda: upload(client, b""), lambda: upload(client, b"not a video" * 50), lambda: upload(client, clip_bytes, seed="-1"),
        lambda: client.post("/api/v1/score?wait=1", data={"video": (io.BytesIO(clip_bytes), "c.mp4")},
                            content_type="multipart/form-data"),
        lambda: client.post("/api/v1/score", data={}, content_type="multipart/form-data",
                            headers={"Origin": "http://evil.example"}),
        lambda: client.get("/api/v1/library?limit=2"), lambda: client.get("/api/v1/library?limit=x"),
        lambda: client.get("/api/v1/library?q=door&limit=2"), lambda: client.get("/api/v1/categories"),
        lambda: client.post("/api/v1/library", data={"file": (io.BytesIO(b"junk" * 100), "a.wav"), "category": "knock"},
                            content_type="multipart/form-data"),
        lambda: client.delete("/api/v1/library/nope"), lambda: client.get("/api/v1/library/nope/audio"),
        lambda: client.get("/api/v1/record"), lambda: client.post("/api/v1/record", json={"seconds": "x"}),
        lambda: client.post("/api/v1/record", json={}), lambda: client.post("/api/v1/record/stop"),
        lambda: client.post("/api/v1/record/cancel"), lambda: client.get("/api/v1/preview.mjpg"),
        lambda: client.post(f"/api/v1/jobs/{job_id}/claim"), lambda: client.post(f"/api/v1/jobs/{job_id}/claim", headers=worker),
        lambda: client.get(f"/api/v1/jobs/{job_id}/input", headers=worker),
        lambda: client.get(f"/api/v1/jobs/{missing}/analysis.npz", headers=worker),
        lambda: client.post(f"/api/v1/jobs/{job_id}/progress", json={"stage": "x", "fraction": 1}, headers=worker),
        lambda: client.post(f"/api/v1/jobs/{job_id}/result", headers=worker),
        lambda: client.post(f"/api/v1/jobs/{job_id}/fail", json={"reason": "x"}),
        lambda: client.post("/api/v1/login", json={"token": "wrong"}),
        lambda: client.post("/api/v1/login", json={"token": TOKEN}),
        lambda: client.get("/api/v1/token"), lambda: client.get("/api/v1/token", environ_base=lan),
        lambda: client.get("/api/v1/token", environ_base=lan, headers={"Authorization": f"bearer {TOKEN}"}),
        lambda: client.get("/api/v1/jobs", environ_base=lan), lambda: client.get("/metrics", headers={"Host": "evil.example"}),
        lambda: client.get(f"/api/v1/jobs/{job_id}/events/0/candidates?q=door"),
        lambda: client.patch(f"/api/v1/jobs/{job_id}/events/0", json={"gain_db": -3}),
        lambda: client.patch(f"/api/v1/jobs/{job_id}/events/0", json={"time": -1}),
        lambda: client.patch(f"/api/v1/jobs/{job_id}/events/0", json={"template_id": "gone"}),
        lambda: client.post(f"/api/v1/jobs/{job_id}/events", json={"template_id": "x"}),
        lambda: client.delete(f"/api/v1/jobs/{job_id}/events/999"),
        lambda: client.post(f"/api/v1/jobs/{job_id}/undo"), lambda: client.post(f"/api/v1/jobs/{job_id}/redo"),
        lambda: client.post(f"/api/v1/jobs/{job_id}/redo"), lambda: client.post(f"/api/v1/jobs/{missing}/undo"),
        lambda: client.post(f"/api/v1/jobs/{job_id}/play"), lambda: client.post(f"/api/v1/jobs/{missing}/play"),
        lambda: client.get("/api/v1/play"), lambda: client.post("/api/v1/play/stop"),
        lambda: client.delete("/api/v1/jobs"), lambda: client.put(f"/api/v1/jobs/{job_id}"),
        lambda: client.delete(f"/api/v1/jobs/{job_id}"), lambda: client.delete(f"/api/v1/jobs/{job_id}"),
    ]:
        call()
    assert not [s for s in seen if s[2] == 500], seen
    undocumented = []
    for rule, method, status, mimetype in seen:
        if rule is None or rule == "/" or rule.startswith("/static"):
            continue
        path = re.sub(r"<(?:\w+(?:\([^)]*\))?:)?(\w+)>", r"{\1}", rule)
        operation = document["paths"].get(path, {}).get(method.lower())
        declared = (operation or {}).get("responses", {}).get(str(status))
        if operation is None or declared is None:
            undocumented.append((path, method, status))
        elif mimetype and mimetype not in declared.get("content", {}):
            undocumented.append((path, method, status, mimetype))
    assert not undocumented, undocumented
    assert len({(s[0], s[2]) for s in seen}) >= 40  # the variety the requests above reach
