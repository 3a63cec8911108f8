"""/metrics over real HTTP, parsed back with prometheus-client's own parser; the counters that lower
layers bump (Trakt requests, scrobbles, identification) reach it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from scrobblerd import metrics
from scrobblerd.config.settings import IdentifyConfig, TraktConfig
from scrobblerd.identify.identifier import Identifier
from scrobblerd.models import MediaRef
from scrobblerd.trakt.client import TraktClient
from scrobblerd.web.server import WebServer
from tests.test_web import FakeProvider
from tests.trakt_server import FakeTrakt

NAMES = {
    "scrobblerd_scrobbles": "counter",
    "scrobblerd_queue_depth": "gauge",
    "scrobblerd_queue_oldest_age_seconds": "gauge",
    "scrobblerd_delivery_latency_seconds": "histogram",
    "scrobblerd_player_connected": "gauge",
    "scrobblerd_token_expiry_seconds": "gauge",
    "scrobblerd_trakt_requests": "counter",
    "scrobblerd_identify": "counter",
}


@pytest.fixture(autouse=True)
def fresh_counters() -> Iterator[None]:
    metrics.REGISTRY.clear()
    yield
    metrics.REGISTRY.clear()


def scrape() -> dict[str, list[Sample]]:
    server = WebServer("127.0.0.1", 0, "", FakeProvider())
    assert server.start()
    try:
        with requests.Session() as http:
            http.trust_env = False
            resp = http.get(server.url + "/metrics", timeout=5)
    finally:
        server.stop()
    assert resp.status_code == 200 and resp.headers["Content-Type"].startswith("text/plain")
    families = {f.name: f for f in text_string_to_metric_families(resp.text)}
    for name, kind in NAMES.items():
        assert name in families, name
        assert families[name].type == kind, name
    return {name: f.samples for name, f in families.items()}


def value(samples: list[Sample], name: str, **labels: str) -> float:
    found = [s.value for s in samples if s.name == name and s.labels == labels]
    assert len(found) == 1, (name, labels, samples)
    return found[0]


def test_every_documented_metric_is_exported_with_its_type_and_the_provider_gauges() -> None:
    got = scrape()
    assert value(got["scrobblerd_queue_depth"], "scrobblerd_queue_depth", state="pending") == 2
    assert value(got["scrobblerd_queue_depth"], "scrobblerd_queue_depth", state="failed") == 1
    oldest = got["scrobblerd_queue_oldest_age_seconds"]
    assert value(oldest, "scrobblerd_queue_oldest_age_seconds") == 42
    connected = got["scrobblerd_player_connected"]
    assert value(connected, "scrobblerd_player_connected", player="mpv", instance="mpv:/tmp/s") == 1
    assert value(got["scrobblerd_token_expiry_seconds"], "scrobblerd_token_expiry_seconds") == 3600


def test_counters_and_the_latency_histogram_carry_what_was_counted() -> None:
    metrics.count(metrics.SCROBBLES, action="start", result="ok")
    metrics.count(metrics.SCROBBLES, action="start", result="ok")
    metrics.count(metrics.SCROBBLES, action="stop", result="not_found")
    for seconds in (0.2, 1.5, 7200.0):
        metrics.observe(metrics.DELIVERY_LATENCY, seconds)
    got = scrape()
    scrobbles = got["scrobblerd_scrobbles"]
    assert value(scrobbles, "scrobblerd_scrobbles_total", action="start", result="ok") == 2
    assert value(scrobbles, "scrobblerd_scrobbles_total", action="stop", result="not_found") == 1
    latency = got["scrobblerd_delivery_latency_seconds"]
    bucket = "scrobblerd_delivery_latency_seconds_bucket"
    assert value(latency, bucket, le="0.5") == 1
    assert value(latency, bucket, le="2.0") == 2
    assert value(latency, bucket, le="3600.0") == 2
    assert value(latency, bucket, le="21600.0") == 3
    assert value(latency, bucket, le="+Inf") == 3
    assert value(latency, "scrobblerd_delivery_latency_seconds_count") == 3
    assert value(latency, "scrobblerd_delivery_latency_seconds_sum") == pytest.approx(7201.7)


def test_requests_to_trakt_are_counted_by_endpoint_and_status(tmp_path: Path) -> None:
    with (
        FakeTrakt() as trakt,
        TraktClient(TraktConfig(api_url=trakt.url, auth_url=trakt.auth_url, timeout=5)) as api,
    ):
        trakt.add_movie("The Matrix", 1999, {"trakt": 481})
        api.search_text("The Matrix")
        trakt.fail_next(1, 502, paths="/search")
        with pytest.raises(Exception, match="502"):
            api.search_text("The Matrix")
    got = scrape()["scrobblerd_trakt_requests"]
    assert value(got, "scrobblerd_trakt_requests_total", endpoint="search", status="200") == 1
    assert value(got, "scrobblerd_trakt_requests_total", endpoint="search", status="502") == 1


def test_identifications_are_counted_by_source_and_result_but_offline_looks_are_not() -> None:
    with (
        FakeTrakt() as trakt,
        TraktClient(TraktConfig(api_url=trakt.url, auth_url=trakt.auth_url, timeout=5)) as api,
    ):
        trakt.add_movie("The Matrix", 1999, {"trakt": 481})
        identifier = Identifier(IdentifyConfig(), searcher=api)
        identifier.identify(MediaRef(path="/v/The.Matrix.1999.mkv"))
        identifier.identify(MediaRef(path="/v/Nothing.Like.This.Exists.2031.mkv"))
        identifier.identify(MediaRef(path="/v/The.Matrix.1999.mkv"), offline=True)
    got = scrape()["scrobblerd_identify"]
    assert value(got, "scrobblerd_identify_total", source="search", result="found") == 1
    found = [s for s in got if s.name == "scrobblerd_identify_total"]
    assert sum(s.value for s in found) == 2, found
