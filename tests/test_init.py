"""``coverage-audit init`` (DESIGN 3.6): a first service map from a repository and a running
Prometheus that loads with the loader and judges like a map written by hand.

tests/init/shop is a hand-made repository: CODEOWNERS, a docker-compose file, Kubernetes
manifests (a Deployment with a Service named differently, a gRPC Deployment, a CronJob, and a
Helm template that does not parse), and four service folders. tests/init/shop-map.yaml is the
same system mapped by hand.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pytest

import live_servers as ls
from coverage_audit.catalog import default_catalog
from coverage_audit.cli import main
from coverage_audit.loaders.service_map import load_service_maps

HERE = Path(__file__).resolve().parent / "init"
REPO, BY_HAND, RULES = HERE / "shop", HERE / "shop-map.yaml", HERE / "rules.yaml"


@pytest.fixture(autouse=True)
def _elsewhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)


def shape(path: Path) -> dict:
    loaded = load_service_maps([str(path)], default_catalog())
    assert loaded.errors == []
    return {
        s.name: {
            "owner": s.owner,
            "selector": s.selector,
            "depends_on": sorted(s.depends_on),
            "components": sorted((c.name, c.kind, c.paths) for c in s.components),
        }
        for s in loaded.service_map.services.values()
    }


def verdicts(capsys: pytest.CaptureFixture[str], service_map: Path, out: Path) -> dict:
    main(["report", "--rules", str(RULES), "--service-map", str(service_map), "--out", str(out), "--format", "json"])
    document = json.loads(capsys.readouterr().out)
    return {(f["subject"], f["failure_mode"]): (f["status"], f["alerts"][0]["name"] if f["alerts"] else None) for f in document["findings"]}


def impacted(capsys: pytest.CaptureFixture[str], service_map: Path, path: str) -> set:
    main(["check", "--rules", str(RULES), "--service-map", str(service_map), "--changed", path, "--format", "json", "--fail-on", "never"])
    return {(f["subject"], f["failure_mode"], f["impact"]) for f in json.loads(capsys.readouterr().out)["findings"]}


def test_a_map_from_the_repository_judges_like_the_one_written_by_hand(tmp_path, capsys) -> None:
    out = tmp_path / "map.yaml"
    assert main(["init", "--repo", str(REPO), "--out", str(out)]) == 0
    said = capsys.readouterr()
    assert said.err == ""
    assert "Wrote" in said.out and "4 services" in said.out
    assert "Skipped 1 YAML file(s) that do not parse" in said.out and "broken-template.yaml:4" in said.out

    assert shape(out) == shape(BY_HAND)
    assert verdicts(capsys, out, tmp_path / "a") == verdicts(capsys, BY_HAND, tmp_path / "b")
    for changed in ("services/checkout/app.py", "services/payments/payments.proto", "services/reports/report.py"):
        assert impacted(capsys, out, changed) == impacted(capsys, BY_HAND, changed)

    text = out.read_text()
    # Every inferred value says so, with its evidence.
    for line in text.splitlines():
        if line.startswith("    ") and line.strip().startswith(("owner:", "selector:", "kind:", "paths:", "- '")):
            assert "# guess: " in line, line
    assert "# guess: .github/CODEOWNERS gives services/checkout/ to @shop/team-checkout" in text
    assert "# guess: deploy/k8s/reports.yaml:1 env CHECKOUT_API names checkout-svc.shop.svc.cluster.local" in text
    assert "# guess: services/payments/payments.proto" in text
    assert "# guess: a Kubernetes CronJob (deploy/k8s/reports.yaml:1)" in text
    assert "postgres" not in text.split("services:", 1)[1]  # an infrastructure image is not a service


def test_init_never_overwrites(tmp_path, capsys) -> None:
    out = tmp_path / "map.yaml"
    out.write_text("keep me\n")
    assert main(["init", "--repo", str(REPO), "--out", str(out)]) == 2
    assert "exists; init never overwrites a file" in capsys.readouterr().err
    assert out.read_text() == "keep me\n"


def test_backstage_declarations_are_taken_as_declared(tmp_path, capsys) -> None:
    repo = tmp_path / "repo"
    shutil.copytree(REPO, repo)
    (repo / "services" / "checkout" / "catalog-info.yaml").write_text(
        "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata:\n  name: checkout\n"
        "  annotations:\n    coverage-audit/selector: '{service_name=\"checkout\"}'\n"
        "spec:\n  type: service\n  owner: group:default/orders\n  system: shop\n  dependsOn: ['component:payments', 'resource:orders-db']\n"
    )
    out = tmp_path / "map.yaml"
    assert main(["init", "--repo", str(repo), "--out", str(out)]) == 0
    checkout = shape(out)["checkout"]
    assert checkout["owner"] == "orders" and checkout["selector"] == '{service_name="checkout"}'
    assert checkout["depends_on"] == ["payments"]
    text = out.read_text()
    assert "owner: 'orders'  # from services/checkout/catalog-info.yaml:1 spec.owner" in text
    assert "system: 'shop'" in text


def test_hostile_names_cannot_break_the_written_map(tmp_path, capsys) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "docker-compose.yml").write_text(
        'services:\n'
        '  "evil\\nkey: injected":\n    build: ./a\n    environment: {X: "http://other:80\\n- injected"}\n'
        "  \"quote'd \\\"svc\\\"\":\n    build: ./b\n"
        '  other:\n    build: ./c\n'
    )
    for name in ("a", "b", "c"):
        (repo / name).mkdir()
    out = tmp_path / "map.yaml"
    assert main(["init", "--repo", str(repo), "--out", str(out)]) == 0
    loaded = load_service_maps([str(out)], default_catalog())
    assert loaded.errors == []
    assert sorted(loaded.service_map.services) == ["evil\nkey: injected", "other", "quote'd \"svc\""]
    assert loaded.service_map.services["evil\nkey: injected"].depends_on == ("other",)
    assert "injected" not in {key for document in out.read_text().split("\n") for key in [document.split(":", 1)[0].strip()]}


# --------------------------------------------------------------------------- with Prometheus


@pytest.fixture(scope="module")
def shop_prometheus(tmp_path_factory: pytest.TempPathFactory):
    if ls.tools_missing():
        pytest.skip(ls.tools_missing() or "")
    folder = tmp_path_factory.mktemp("init-prometheus")
    day = 86400.0

    def s(metric: str, **labels: str) -> ls.Series:
        return ls.Series(metric, labels, day, 60.0, 1.0, None, 300.0)

    series = [
        s("http_requests_total", job="frontend", code="200"),
        s("http_server_request_duration_seconds_count", job="checkout", http_response_status_code="200"),
        s("http_server_request_duration_seconds_bucket", job="checkout", le="+Inf"),
        s("grpc_server_handled_total", job="payments", grpc_code="OK", grpc_service="Payments", grpc_method="Charge"),
        s("grpc_server_started_total", job="payments", grpc_service="Payments", grpc_method="Charge"),
        s("job_last_success_timestamp_seconds", job="reports"),
        s("node_cpu_seconds_total", job="node", cpu="0", mode="idle"),
        s("traces_service_graph_request_total", client="frontend", server="checkout"),
        s("traces_service_graph_request_total", client="checkout", server="payments"),
        s("traces_service_graph_request_total", client="reports", server="checkout"),
    ]
    ls.write_blocks(series, folder / "data", time.time())
    with ls.prometheus(folder / "prometheus", folder / "data") as prom:
        yield prom.url


@pytest.mark.tools
def test_a_map_from_the_repository_and_prometheus_judges_like_the_one_written_by_hand(shop_prometheus, tmp_path, capsys) -> None:
    repo = tmp_path / "repo"
    shutil.copytree(REPO, repo)
    # Only the service graph shows that checkout calls payments now.
    compose = repo / "docker-compose.yaml"
    compose.write_text(compose.read_text().replace("      - PAYMENTS_ADDR=payments:50051\n", "").replace("depends_on: [payments, postgres]", "depends_on: [postgres]"))
    manifest = repo / "deploy" / "k8s" / "checkout.yaml"
    manifest.write_text(manifest.read_text().replace('            - {name: PAYMENTS_ADDR, value: "payments.shop.svc.cluster.local:50051"}\n', "").replace("          env:\n", ""))
    (repo / "services" / "payments" / "payments.proto").unlink()
    (repo / "deploy" / "k8s" / "payments.yaml").unlink()
    (repo / "docker-compose.yaml").write_text(compose.read_text().replace('    ports: ["50051:50051"]\n', ""))

    out = tmp_path / "map.yaml"
    assert main(["init", "--repo", str(repo), "--out", str(out), "--prometheus", shop_prometheus, "--lookback", "1d"]) == 0
    said = capsys.readouterr()
    assert said.err == "" and "Prometheus named 4 of them and showed 3 calls" in said.out
    assert shape(out) == shape(BY_HAND)
    assert verdicts(capsys, out, tmp_path / "a") == verdicts(capsys, BY_HAND, tmp_path / "b")

    text = out.read_text()
    assert "- 'payments'  # guess: traces_service_graph_request_total shows checkout calling payments" in text
    assert "kind: 'grpc_api'  # guess: it emits grpc_server_handled_total" in text
    assert "kind: 'batch_job'  # guess: it emits job_last_success_timestamp_seconds" in text
    assert "selector: '{job=\"payments\"}'  # guess: Prometheus shows 2 metric names with job=\"payments\"" in text

    # Without Prometheus the repository alone no longer tells these.
    bare = tmp_path / "bare.yaml"
    assert main(["init", "--repo", str(repo), "--out", str(bare)]) == 0
    capsys.readouterr()
    assert shape(bare)["checkout"]["depends_on"] == [] and shape(bare)["payments"]["components"][0][1] == "http_api"


@pytest.mark.tools
def test_init_with_a_prometheus_that_is_down_still_writes_the_map(tmp_path, capsys) -> None:
    out = tmp_path / "map.yaml"
    url = f"http://127.0.0.1:{ls.free_port()}"
    assert main(["init", "--repo", str(REPO), "--out", str(out), "--prometheus", url]) == 2
    said = capsys.readouterr()
    assert said.err.count("\n") == 1 and "cannot connect: connection refused" in said.err
    assert shape(out) == shape(BY_HAND)
