"""The live shop's series (tests/live/shop): two days of history, written as real TSDB blocks."""

from __future__ import annotations

from pathlib import Path

from live_servers import Series

SHOP = Path(__file__).resolve().parent / "live" / "shop"
DAY = 86400.0
HISTORY = 2 * DAY  # the tests judge with --lookback 2d
RENAMED = 1 * DAY  # checkout moved from http_requests_total to the OpenTelemetry name a day ago
STEP = 120.0


def shop_series() -> list[Series]:
    def s(metric: str, since: float = HISTORY, until: float = 60.0, rate: float = 1.0, value: float | None = None, **labels: str) -> Series:
        return Series(metric, labels, since, until, rate, value, STEP)

    buckets = [s("http_request_duration_seconds_bucket", job="payments", le=le, rate=r) for le, r in (("0.1", 8.0), ("0.5", 9.5), ("1", 10.0), ("+Inf", 10.0))]
    return [
        s("http_requests_total", job="frontend", code="200", rate=20.0),
        s("http_requests_total", job="frontend", code="500", rate=0.1),
        s("http_requests_total", job="checkout", code="200", until=RENAMED, rate=5.0),
        s("http_server_request_duration_seconds_count", job="checkout", http_response_status_code="200", since=RENAMED - STEP, rate=5.0),
        s("http_requests_total", job="payments", code="200", rate=10.0),
        *buckets,
        s("traces_service_graph_request_total", client="frontend", server="checkout", rate=20.0),
        s("traces_service_graph_request_total", client="checkout", server="payments", rate=10.0),
        s("traces_service_graph_request_total", client="checkout", server="fraud-api", rate=1.0),
        s("up", job="frontend", value=1.0),
        s("up", job="checkout", value=1.0),
        s("up", job="payments", value=1.0),
    ]
