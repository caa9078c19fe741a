"""The canary scenario on the shop (DESIGN 5.1): one instance in twenty fails outright while the
rest stay healthy. Which of the shop's covering alerts catch that within the 15-minute budget
was judged by hand first (below, with the reasoning); then every one of them is drilled through
the real promtool, and the two must agree.

The numbers behind the hand judgement (data/scenarios.yaml): 10 requests/s, no errors while
healthy, 0.1 s latency, a failing request takes 60 s. The canary carries 5 % of the traffic, so
a service-wide error ratio rises to exactly 5 % — which `> 0.05` never exceeds — and a ratio
over a window W crosses a lower threshold T after about W x T / 5 %. A latency quantile q sees
the canary once more than 1 - q of the window's requests are slow. "Caught" means firing, not
while healthy, within the budget once the route's group_wait is added.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from coverage_audit.analysis.impact import every_mode
from coverage_audit.analysis.routing import first_notice_wait
from coverage_audit.commands import judge_all, load_inputs
from coverage_audit.config import load_config
from coverage_audit.drill import Options, drill, verdicts

ROOT = Path(__file__).resolve().parents[1]
PROMTOOL = shutil.which("promtool")
pytestmark = [
    pytest.mark.tools,
    pytest.mark.skipif(PROMTOOL is None, reason="promtool is not installed (Debian package 'prometheus')"),
]

EXACTLY_5 = "the ratio reaches exactly 5 %, which `> 0.05` does not exceed"
P99 = "more than 1 % of the [5m] window is slow after about a minute; then its `for`"
CAUGHT: dict[tuple[str, str, str], tuple[bool, str]] = {
    # Error ratios aggregated over the service see 5 %.
    ("cart/api", "errors", "CartHighErrorRate"): (False, EXACTLY_5),
    ("cart/api", "errors", "HTTPHighErrorRate"): (False, EXACTLY_5),
    ("catalog/api", "errors", "CatalogHighErrorRate"): (False, EXACTLY_5),
    ("catalog/api", "errors", "HTTPHighErrorRate"): (False, EXACTLY_5),
    ("checkout/api", "errors", "HTTPHighErrorRate"): (False, EXACTLY_5),
    ("frontend/web", "errors", "HTTPHighErrorRate"): (False, EXACTLY_5),
    ("shipping/api", "errors", "ShippingHigh5xxRate"): (False, EXACTLY_5),
    ("shipping/api", "errors", "HTTPHighErrorRate"): (False, EXACTLY_5),
    ("payments/api", "errors", "PaymentsHighErrorRatio"): (False, EXACTLY_5),
    ("inventory/api", "errors", "OrderServicesHighGRPCErrorRatio"): (False, EXACTLY_5),
    ("inventory/api", "errors", "GRPCServerErrorsHigh"): (False, EXACTLY_5),
    ("orders/api", "errors", "OrderServicesHighGRPCErrorRatio"): (False, EXACTLY_5),
    ("orders/api", "errors", "GRPCServerErrorsHigh"): (False, EXACTLY_5),
    ("fraud/scoring", "errors", "GRPCServerErrorsHigh"): (False, EXACTLY_5),
    ("ledger/api", "errors", "GRPCServerErrorsHigh"): (False, EXACTLY_5),
    ("checkout/api", "errors", "CheckoutHigh5xxRate"): (True, "> 2 % on [5m] after 2 minutes, then for 5m: about 7 minutes"),
    ("ledger/api", "errors", "LedgerGRPCErrors"): (True, "> 1 % on [5m] after a minute, seen at the next 5m evaluation, for 5m: about 10 minutes"),
    ("payments/api", "errors", "PaymentsErrorBudgetBurn"): (False, "14.4 x 0.1 % = 1.44 % on [1h] takes about 17 minutes"),
    ("payments/api", "errors", "PaymentsErrorBudgetSlowBurn"): (False, "0.1 % on [3d] or 0.3 % on [1d] take over an hour"),
    ("shipping/api", "errors", "ShippingAvailabilitySLOBurn"): (False, "1.44 % on [1h] takes about 17 minutes, 0.6 % on [6h] longer"),
    # Thresholds the canary's share cannot reach.
    ("checkout/tax", "errors", "CheckoutTaxProviderErrors"): (False, "5 % never exceeds 10 %"),
    ("checkout/tax", "errors", "ShippingCarrierErrors"): (False, "5 % never exceeds 10 %"),
    ("payments/psp", "errors", "PaymentsPSPErrorRate"): (False, "5 % never exceeds 10 %"),
    ("business/payment_success", "failure_ratio", "PaymentsDeclineRatioHigh"): (False, "declines reach 0.5/s of 10.5/s, under 15 %"),
    ("orders/events", "processing_errors", "OrdersEventProcessingErrors"): (False, "0.5 failures/s never exceed the absolute 1/s"),
    ("orders/migrations", "query_errors", "OrdersDBQueryErrors"): (False, "0.5 failures/s never exceed the absolute 1/s"),
    ("cart/sessions", "hit_ratio_drop", "CartSessionCacheHitRatioLow"): (False, "the hit ratio falls to 95 %, never under 80 %"),
    # Any dead letter at all: the canary's 0.5/s show at the next evaluation.
    ("inventory/stock-events", "processing_errors", "EventbusDeadLetters"): (True, "`> 0` on the canary's dead letters: about a minute"),
    ("notifications/sender", "processing_errors", "EventbusDeadLetters"): (True, "`> 0` on the canary's dead letters: about a minute"),
    ("orders/events", "processing_errors", "EventbusDeadLetters"): (True, "`> 0` on the canary's dead letters: about a minute"),
    # Latency quantiles: 5 % of requests are slow.
    ("payments/api", "latency", "PaymentsHighLatency"): (True, "p99: " + P99 + " 5m: about 6 minutes"),
    ("fraud/scoring", "latency", "GRPCServerLatencyHigh"): (True, "p99: " + P99 + " 10m: about 12 minutes"),
    ("inventory/api", "latency", "GRPCServerLatencyHigh"): (True, "p99: " + P99 + " 10m: about 12 minutes"),
    ("ledger/api", "latency", "GRPCServerLatencyHigh"): (True, "p99: " + P99 + " 10m: about 12 minutes"),
    ("orders/api", "latency", "GRPCServerLatencyHigh"): (True, "p99: " + P99 + " 10m: about 12 minutes"),
    ("frontend/web", "latency", "FrontendHighLatency"): (False, "p95 with exactly 5 % slow stays on the fast requests"),
    ("checkout/api", "latency", "CheckoutSlowRequests"): (False, "p99 over [1h] needs 12 minutes of canary, then for 30m"),
    # Drops and absences: the other nineteen instances carry on.
    ("frontend/web", "traffic_drop", "FrontendTrafficDrop"): (False, "traffic falls by 5 %, not by half"),
    ("payments/api", "traffic_drop", "PaymentsNoTraffic"): (False, "traffic falls by 5 %, never to zero, and the series stay"),
    ("business/payment_success", "drop", "PaymentsAuthorizationsDropped"): (False, "authorisations fall by 5 %, not by half"),
    ("business/orders_completed", "drop", "ShopNoOrdersCompleted"): (False, "completed orders fall by 5 %, never to zero"),
    ("orders/events", "stalled", "OrdersEventsConsumerStalled"): (False, "processing falls by 5 %, never to zero"),
    ("settlement/nightly", "missed_run", "SettlementNightlyMissed"): (False, "max() over instances still sees the others' last success"),
    # Backlogs grow at the canary's share of the input rate: 0.5 messages/s.
    ("orders/events", "lag", "OrdersEventsConsumerLag"): (False, "1000 messages take 2000 s at 0.5/s"),
    ("inventory/stock-events", "lag", "InventoryStockEventsLag"): (False, "1000 messages take 2000 s, then for 15m"),
    ("notifications/sender", "lag", "NotificationsQueueBacklog"): (False, "10000 messages take 20000 s"),
    # Events with no scale pass any threshold at once; then the alert's own timing.
    ("payments/api", "refund_backlog", "PaymentsRefundBacklog"): (False, "past 500 at once, but for 30m"),
    ("settlement/nightly", "failures", "SettlementJobFailed"): (True, "max() sees the canary's failed job at the next evaluation"),
}


def test_a_failing_five_percent_canary_is_caught_by_exactly_the_hand_judged_alerts() -> None:
    cwd = os.getcwd()
    os.chdir(ROOT)
    try:
        settings = load_config(str(ROOT / "coverage-audit.yaml"))
        inputs = load_inputs(settings)
        modes = every_mode(inputs.service_map, inputs.catalog)
        judged = judge_all(inputs, settings, modes)
        options = Options(("canary",), settings.budget, settings.evaluation_interval, settings.canary_selector)
        measured = drill(verdicts(judged, modes, every_alert=True), inputs.ruleset, options)
    finally:
        os.chdir(cwd)
    rows, disagreements, unjudged = [], [], []
    for finding in judged:
        for alert in finding.alerts:
            key = (finding.subject.name, finding.mode.id, alert.rule.name)
            result = measured.results[key[:2]][alert.rule]["canary"]
            wait = first_notice_wait(inputs.alertmanager, dict(alert.labels)) if inputs.alertmanager else 0.0
            fired = result.fired_after_seconds
            caught = result.drilled and fired is not None and not result.noisy and fired + wait <= settings.budget
            if key not in CAUGHT:
                unjudged.append(f"{key}: measured {result}")
                continue
            expected, why = CAUGHT[key]
            hand = "caught" if expected else "missed"
            rows.append(f"{' '.join(key):70} hand: {hand:6}  engine: {'caught' if caught else 'missed':6} {result}  ({why})")
            if not result.drilled or caught != expected:
                disagreements.append(rows[-1])
    print("\n" + "\n".join(rows))
    assert not unjudged, "covering alerts nobody judged by hand:\n" + "\n".join(unjudged)
    assert len(rows) == len(CAUGHT), "hand-judged alerts that are no longer covering: " + ", ".join(
        " ".join(k) for k in CAUGHT if not any(r.startswith(" ".join(k)) for r in rows))
    assert not disagreements, "hand judgement and engine disagree:\n" + "\n".join(disagreements)
