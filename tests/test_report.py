"""`coverage-audit report` on the bundled example: what the four files say, not only that they
exist. Numbers are checked against ``judge_everything`` (what ``check`` decides), history
against a changed input, metrics against prometheus-client's parser and ``promtool``, and
hostile input against every place it is shown."""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import sqlite3
import subprocess
from collections import Counter
from html.parser import HTMLParser
from pathlib import Path

import pytest
from markupsafe import escape
from prometheus_client.parser import text_string_to_metric_families

from coverage_audit.analysis.findings import Summary
from coverage_audit.analysis.overview import ModeStatus, Run, RunTotals, build_overview, changes_between
from coverage_audit.cli import main
from coverage_audit.commands import judge_everything, load_inputs
from coverage_audit.config import load_config
from coverage_audit.progress import Progress
from coverage_audit.reporters.json import finding_object

ROOT = Path(__file__).resolve().parents[1]
FILES = ("index.html", "report.md", "report.json", "coverage.prom")
PROMTOOL = shutil.which("promtool")


@pytest.fixture(scope="module")
def example(tmp_path_factory):
    """One report of the bundled example, and what ``check`` judges for the same inputs."""
    out = tmp_path_factory.mktemp("report")
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(ROOT)
        code = main(["report", "--out", str(out)])
        settings = load_config(str(ROOT / "coverage-audit.yaml"))
        findings = judge_everything(load_inputs(settings), settings)
    return {
        "code": code,
        "out": out,
        "findings": findings,
        "html": (out / "index.html").read_text(encoding="utf-8"),
        "md": (out / "report.md").read_text(encoding="utf-8"),
        "json": json.loads((out / "report.json").read_text(encoding="utf-8")),
        "prom": (out / "coverage.prom").read_text(encoding="utf-8"),
    }


@pytest.fixture
def shop(tmp_path, monkeypatch) -> Path:
    """A private copy of the example, to change inputs in."""
    for name in ("rulesets", "service_maps"):
        shutil.copytree(ROOT / name, tmp_path / name)
    shutil.copy(ROOT / "coverage-audit.yaml", tmp_path / "coverage-audit.yaml")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def section(text: str, start: str, end: str) -> str:
    """The part of a document between two headings (or HTML section ids)."""
    begin = text.index(start)
    return text[begin : text.index(end, begin + len(start))]


def md_table(text: str) -> list[list[str]]:
    """The rows (without header and rule) of the first Markdown table in ``text``."""
    rows = [line for line in text.splitlines() if line.startswith("|")]
    return [[cell.strip() for cell in re.split(r"(?<!\\)\|", row)[1:-1]] for row in rows[2:]]


# --------------------------------------------------------------------------- what the files say


def test_writes_the_four_files_and_one_history_run(example) -> None:
    assert example["code"] == 0
    assert sorted(os.listdir(example["out"])) == sorted([*FILES, "history.sqlite"])
    with sqlite3.connect(example["out"] / "history.sqlite") as db:
        assert db.execute("SELECT COUNT(*) FROM runs").fetchone() == (1,)
        assert db.execute("SELECT COUNT(*) FROM findings").fetchone() == (len(example["findings"]),)


def test_json_holds_the_contract_finding_objects_of_check(example) -> None:
    document, findings = example["json"], example["findings"]
    assert document["version"] == 1
    assert document["findings"] == json.loads(json.dumps([finding_object(f) for f in findings]))
    summary = Summary.of(findings)
    assert document["summary"] == {"total": summary.total, "covered": summary.covered, "weak": summary.weak, "uncovered": summary.uncovered, "waived": 0}
    assert summary.total == 57 and summary.covered and summary.weak and summary.uncovered  # the example has all three
    assert document["overview"]["totals"]["covered"] == summary.covered
    assert document["overview"]["totals"]["coverage_ratio"] == round(summary.covered / summary.total, 4)
    assert [point["total"] for point in document["trend"]] == [57]
    assert document["changes_since_previous"] is None  # the first run of this history


def test_summary_numbers_in_html_and_markdown_equal_the_judgement(example) -> None:
    summary = Summary.of(example["findings"])
    for status in ("covered", "weak", "uncovered"):
        assert f'<div class="n" data-status="{status}">{getattr(summary, status)}</div>' in example["html"]
    rows = {row[0].split()[-1]: row for row in md_table(section(example["md"], "## Summary", "### By tier"))}
    assert {status: int(rows[status][1]) for status in rows} == {"covered": summary.covered, "weak": summary.weak, "uncovered": summary.uncovered}
    ratio = round(100 * summary.covered / summary.total)
    assert f"**{ratio}%** of {summary.total} failure modes are covered" in example["md"]


def test_business_metrics_come_first(example) -> None:
    html, md = example["html"], example["md"]
    assert html.index('<section id="business">') < html.index('<section id="services">') < html.index('<section id="owners">')
    assert md.index("## Business metrics") < md.index("## Coverage per service")
    subjects = [row[1].strip("`") for row in md_table(md[md.index("## Every finding") :])]
    business = [s.startswith("business/") for s in subjects]
    assert len(subjects) == len(example["findings"])
    assert business == sorted(business, reverse=True) and business[0] and sum(business) == 5
    metrics = [row[0].strip("`") for row in md_table(section(md, "## Business metrics", "## Coverage per service"))]
    assert set(metrics) == {"business/orders_completed", "business/payment_success", "business/signups"}


def test_the_blackholed_alert_is_listed_as_reaching_no_one(example) -> None:
    listed = example["json"]["overview"]["unreachable_alerts"]
    assert [(a["name"], a["problems"], a["receivers"]) for a in listed] == [("ShopNoOrdersCompleted", ["blackhole"], ["blackhole"])]
    assert listed[0]["covers"] == [{"subject": "business/orders_completed", "failure_mode": "drop"}]
    assert listed[0]["file"].endswith("orders.yaml") and listed[0]["line"] > 0
    html_part = section(example["html"], '<section id="unreachable">', "</section>")
    assert "<strong>ShopNoOrdersCompleted</strong>" in html_part and "blackhole" in html_part
    md_rows = md_table(section(example["md"], "## Alerts that reach no one", "## Watched only"))
    assert [row[0] for row in md_rows] == ["**ShopNoOrdersCompleted**"]
    assert "`business/orders_completed` drop" in md_rows[0][4]


def test_one_row_per_owner_with_its_counts(example) -> None:
    expected: dict[str, Counter[str]] = {}
    for finding in example["findings"]:
        expected.setdefault(finding.subject.owner, Counter())[finding.status] += 1
    rows = md_table(section(example["md"], "## Coverage per owner", "## Coverage per failure mode"))
    got = {row[0]: Counter(covered=int(row[1]), weak=int(row[2]), uncovered=int(row[3])) for row in rows}
    assert {owner: +counts for owner, counts in got.items()} == expected
    ratios = [int(row[5].strip("*%")) for row in rows]
    assert ratios == sorted(ratios)  # worst coverage first
    html_owners = section(example["html"], '<section id="owners">', "</section>")
    for owner, counts in expected.items():
        cells = f"<td>{owner}</td><td class=\"num\">{counts['covered']}</td><td class=\"num\">{counts['weak']}</td><td class=\"num\">{counts['uncovered']}</td>"
        assert cells in html_owners, owner


def test_per_service_rows_and_business_service_label(example) -> None:
    services = {g["name"]: g for g in example["json"]["overview"]["services"]}
    expected = Counter(f.subject.service for f in example["findings"] if f.subject.service)
    assert {name: g["total"] for name, g in services.items()} == dict(expected)
    assert services["checkout"]["owners"] == ["team-checkout"] and services["checkout"]["tier"] == "critical"


def test_infrastructure_only_areas(example) -> None:
    areas = {a["subject"]: a for a in example["json"]["overview"]["infrastructure_only"]}
    assert areas["checkout/tax"]["failure_modes"] == ["latency"]
    assert areas["checkout/tax"]["alerts"] == ["CheckoutTargetDown"]
    assert areas["orders/migrations"]["failure_modes"] == ["query_latency"]
    by_key = {(f.subject.name, f.mode.id): f for f in example["findings"]}
    for subject, area in areas.items():
        for mode in area["failure_modes"]:
            finding = by_key[(subject, mode)]
            assert finding.status == "uncovered" and all(r.level == "infrastructure" for r in finding.related)
    assert "checkout/tax" in section(example["html"], '<section id="infrastructure-only">', "</section>")


def test_critical_gaps_are_the_uncovered_critical_modes(example) -> None:
    gaps = {(g["subject"], g["failure_mode"]) for g in example["json"]["overview"]["critical_gaps"]}
    assert gaps == {(f.subject.name, f.mode.id) for f in example["findings"] if f.status == "uncovered" and f.subject.tier == "critical"}
    assert ("business/orders_completed", "failure_ratio") in gaps


def test_every_finding_is_in_the_html_table_with_its_reason(example) -> None:
    table = section(example["html"], '<section id="findings">', "</section>")
    assert table.count("<tr class=") == len(example["findings"])
    payments_psp = next(f for f in example["findings"] if (f.subject.name, f.mode.id) == ("payments/psp", "latency"))
    assert payments_psp.reason in table


def test_findings_are_grouped_per_owner_then_service_and_collapsed(example) -> None:
    findings = example["findings"]
    overview = build_overview(findings, "2026-01-05T06:00:00+00:00", 900.0)
    grouped = [(o.owner, g.name, f) for o in overview.by_owner for g in o.groups for f in g.findings]
    assert sorted(id(f) for _, _, f in grouped) == sorted(id(f) for f in findings)  # each exactly once
    assert all(f.subject.owner == owner and (f.subject.service or f.subject.name) == name for owner, name, f in grouped)
    ratios = [o.coverage.ratio for o in overview.by_owner]
    assert ratios == sorted(ratios)  # worst owner first
    orders = next(o for o in overview.by_owner if o.owner == "team-orders")
    assert orders.groups[0].name.startswith("business/")  # an owner's business metrics first
    page = section(example["html"], '<section id="findings">', '<section id="alerts">')
    groups = sum(len(o.groups) for o in overview.by_owner)
    assert page.count('<details class="owner">') == len(overview.by_owner)
    assert page.count('<details class="group">') == groups
    assert "<details open" not in example["html"]  # everything starts collapsed
    for owner in overview.by_owner:  # the summary carries the counts, so gaps show unopened
        start = page.index(f"<summary><strong>{owner.owner}</strong>")
        summary = page[start : page.index("</summary>", start)]
        if owner.coverage.uncovered:
            assert f"✗ {owner.coverage.uncovered}</span>" in summary


def test_each_alert_is_written_once_and_findings_link_to_it(example) -> None:
    html = example["html"]
    anchors = set(re.findall(r'href="#(a\d+)"', html))
    assert anchors and all(html.count(f'id="{a}"') == 1 for a in anchors)
    shown = {a.rule for f in example["findings"] for a in f.alerts[:3]}
    for rule in shown:
        said = rule.annotations.get("summary") or rule.annotations.get("description")
        if said:  # the annotation once, in the alert index, however many findings name it
            assert html.count(escape(said)) == 1, rule.name
    named = Counter(a.rule for f in example["findings"] for a in f.alerts[:3])
    busiest, times = named.most_common(1)[0]
    assert times > 1 and html.count(f"<strong>{escape(busiest.name)}</strong>") == 1
    assert html.count(f'">{escape(busiest.name)}</a>') >= times  # linked from each finding


def test_html_is_self_contained(example) -> None:
    tags = TagCollector.of(example["html"])
    policies = [dict(a).get("content") for n, a in tags.items if n == "meta" and dict(a).get("http-equiv") == "Content-Security-Policy"]
    assert policies == ["default-src 'none'; style-src 'unsafe-inline'; img-src data:"]
    assert "script" not in tags.names and "link" not in {n for n, a in tags.items if n == "link" and dict(a).get("rel") == "stylesheet"}
    external = [(n, a) for n, a in tags.items for key, value in a if key in ("src", "href") and value and not value.startswith(("#", "data:", "https://runbooks."))]
    assert external == []
    assert tags.names.count("svg") == 5 and "polyline" in tags.names


# --------------------------------------------------------------------------- metrics


def test_metrics_parse_and_agree_with_the_findings(example) -> None:
    families = {f.name: f for f in text_string_to_metric_families(example["prom"])}
    assert {"coverage_audit_failure_mode_status", "coverage_audit_failure_modes", "coverage_audit_coverage_ratio",
            "coverage_audit_owner_coverage_ratio", "coverage_audit_last_run_timestamp_seconds"} <= set(families)
    assert all(f.type == "gauge" and f.documentation for f in families.values())
    current = {
        (s.labels["subject"], s.labels["failure_mode"]): s.labels
        for s in families["coverage_audit_failure_mode_status"].samples
        if s.value == 1
    }
    findings = example["findings"]
    assert {key: labels["status"] for key, labels in current.items()} == {(f.subject.name, f.mode.id): f.status for f in findings}
    assert current[("business/orders_completed", "drop")]["service"] == ""
    assert current[("checkout/api", "errors")]["service"] == "checkout"
    assert len(families["coverage_audit_failure_mode_status"].samples) == 4 * len(findings)  # covered, weak, uncovered, waived
    counted = Counter()
    for sample in families["coverage_audit_failure_modes"].samples:
        counted[sample.labels["status"]] += sample.value
    summary = Summary.of(findings)
    assert counted == Counter(covered=summary.covered, weak=summary.weak, uncovered=summary.uncovered, waived=0)
    (ratio,) = families["coverage_audit_coverage_ratio"].samples
    assert ratio.value == pytest.approx(summary.covered / summary.total)
    owners = {s.labels["owner"]: s.value for s in families["coverage_audit_owner_coverage_ratio"].samples}
    assert set(owners) == {f.subject.owner for f in findings}
    (unreachable,) = [s for s in families["coverage_audit_unreachable_alerts"].samples if s.labels["problem"] == "blackhole"]
    assert unreachable.value == 1


@pytest.mark.tools
@pytest.mark.skipif(PROMTOOL is None, reason="promtool not installed (Debian package 'prometheus')")
def test_metrics_pass_promtool_check_metrics(example) -> None:
    done = subprocess.run([PROMTOOL, "check", "metrics"], input=example["prom"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout.strip() == "" and done.stderr.strip() == "", (done.stdout, done.stderr)
    broken = subprocess.run([PROMTOOL, "check", "metrics"], input="bad_metric{ 1\n", capture_output=True, text=True, timeout=60)
    assert broken.returncode != 0  # the check can fail: it is not a no-op


# --------------------------------------------------------------------------- history


def remove_rule(path: Path, alert: str) -> None:
    """Deletes one rule block (from its ``- alert:`` line to the next rule) from a rule file."""
    text = path.read_text(encoding="utf-8")
    pattern = re.compile(rf"^([ \t]*)- alert: {re.escape(alert)}\n(?:\1  .*\n|[ \t]*\n)*", re.MULTILINE)
    changed, count = pattern.subn("", text)
    assert count == 1, f"{alert} not found once in {path}"
    path.write_text(changed, encoding="utf-8")


def test_history_gives_a_trend_and_the_changes_since_the_previous_run(shop, capsys) -> None:
    out = shop / "reports"
    assert main(["report", "--out", str(out)]) == 0
    assert main(["report", "--out", str(out)]) == 0
    second = json.loads((out / "report.json").read_text())
    assert len(second["trend"]) == 2
    changes = second["changes_since_previous"]
    assert changes["previous_run"]["total"] == 57
    assert all(changes[kind] == [] for kind in ("newly_uncovered", "newly_weak", "newly_covered", "added", "removed"))

    original = (shop / "rulesets" / "orders.yaml").read_text()
    remove_rule(shop / "rulesets" / "orders.yaml", "OrdersDBQueryErrors")
    capsys.readouterr()
    assert main(["report", "--out", str(out)]) == 0
    stdout = capsys.readouterr().out
    third = json.loads((out / "report.json").read_text())
    assert len(third["trend"]) == 3
    newly = third["changes_since_previous"]["newly_uncovered"]
    assert [(c["subject"], c["failure_mode"], c["before"], c["after"]) for c in newly] == [("orders/migrations", "query_errors", "covered", "uncovered")]
    assert third["summary"]["uncovered"] == second["summary"]["uncovered"] + 1
    assert "1 newly uncovered" in stdout and "orders/migrations query_errors" in stdout
    html = (out / "index.html").read_text()
    changed = section(html, '<section id="changes">', "</section>")
    assert "Newly uncovered (1)" in changed and "<code>orders/migrations</code> query_errors" in changed and "was covered" in changed
    assert "Newly uncovered (1)" in (out / "report.md").read_text()
    assert 'class="dot covered"' in html and html.count('<circle class="dot covered"') == 3

    (shop / "rulesets" / "orders.yaml").write_text(original)
    assert main(["report", "--out", str(out)]) == 0
    fourth = json.loads((out / "report.json").read_text())
    covered_again = fourth["changes_since_previous"]["newly_covered"]
    assert [(c["subject"], c["failure_mode"], c["before"]) for c in covered_again] == [("orders/migrations", "query_errors", "uncovered")]
    families = {f.name: f for f in text_string_to_metric_families((out / "coverage.prom").read_text())}
    changes_metric = {s.labels["change"]: s.value for s in families["coverage_audit_status_changes"].samples}
    assert changes_metric["newly_covered"] == 1 and changes_metric["newly_uncovered"] == 0


def test_changes_between_runs_are_classified_by_direction() -> None:
    def run(**statuses: str) -> Run:
        return Run(
            RunTotals("2024-01-01T00:00:00+00:00", 900, len(statuses), 0, 0, 0),
            tuple(ModeStatus(f"svc/{name}", "svc", "team", "critical", "errors", status) for name, status in statuses.items()),  # type: ignore[arg-type]
        )

    changes = changes_between(
        run(a="covered", b="covered", c="weak", d="uncovered", e="uncovered", gone="covered", same="weak"),
        run(a="weak", b="uncovered", c="covered", d="weak", e="covered", new="uncovered", same="weak"),
    )
    names = lambda items: [c.subject.split("/")[1] for c in items]  # noqa: E731
    assert names(changes.newly_weak) == ["a"]
    assert names(changes.newly_uncovered) == ["b"]
    assert names(changes.newly_covered) == ["c", "e"]
    assert names(changes.improved) == ["d"]
    assert names(changes.added) == ["new"] and changes.added[0].before is None
    assert names(changes.removed) == ["gone"] and changes.removed[0].after is None
    assert changes_between(None, run(a="covered")).previous is None


def test_overview_of_no_findings_is_empty_not_an_error() -> None:
    overview = build_overview([], "2024-01-01T00:00:00+00:00", 900)
    assert overview.totals.total == 0 and overview.totals.ratio == 0.0
    assert overview.services == () and len(overview.trend) == 1


def test_a_corrupt_history_is_an_error_and_is_never_overwritten(shop, capsys) -> None:
    out = shop / "reports"
    out.mkdir()
    history = out / "history.sqlite"
    garbage = b"this is not a database, but somebody's notes\n" * 100
    history.write_bytes(garbage)
    assert main(["report", "--out", str(out)]) == 2
    stderr = capsys.readouterr().err
    assert str(history) in stderr and "history" in stderr
    assert history.read_bytes() == garbage
    # The run still completes for everything else, and says so in its output.
    document = json.loads((out / "report.json").read_text())
    assert document["summary"]["total"] == 57
    assert [e["file"] for e in document["errors"]] == [str(history)]
    assert "input file problem" in (out / "index.html").read_text()


def test_a_foreign_sqlite_database_is_refused(shop, capsys) -> None:
    out = shop / "reports"
    out.mkdir()
    with sqlite3.connect(out / "history.sqlite") as db:
        db.execute("CREATE TABLE invoices (id INTEGER)")
    assert main(["report", "--out", str(out)]) == 2
    assert "other tables (invoices)" in capsys.readouterr().err
    with sqlite3.connect(out / "history.sqlite") as db:
        assert {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")} == {"invoices"}


def test_existing_files_are_replaced_atomically(shop) -> None:
    out = shop / "reports"
    assert main(["report", "--out", str(out)]) == 0
    before = {name: (out / name).stat().st_ino for name in FILES}
    with open(out / "index.html", "rb") as reader:
        old = reader.read()
        reader.seek(0)
        assert main(["report", "--out", str(out)]) == 0
        assert reader.read() == old  # a reader of the old file still sees all of it
    after = {name: (out / name).stat().st_ino for name in FILES}
    assert all(before[name] != after[name] for name in FILES)  # renamed into place, not rewritten
    assert sorted(os.listdir(out)) == sorted([*FILES, "history.sqlite"])  # no temporary file left behind
    assert (out / "index.html").read_bytes() != old  # the second run's page (it has a trend of 2)


# --------------------------------------------------------------------------- hostile input

HOSTILE_NAME = "<script>alert(1)</script>"
HOSTILE_SUMMARY = "<img src=x onerror=alert(2)>"
HOSTILE_RULES = f"""groups:
  - name: hostile
    rules:
      - alert: '{HOSTILE_NAME}'
        expr: histogram_quantile(0.99, sum by (job, le) (rate(payments_psp_request_duration_seconds_bucket{{job="payments"}}[5m]))) > 2
        for: 2m
        labels:
          severity: critical
          team: payments
        annotations:
          summary: '{HOSTILE_SUMMARY}'
          runbook_url: 'javascript:alert(3)'
"""


class TagCollector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.items: list[tuple[str, list[tuple[str, str | None]]]] = []
        self.text: list[str] = []

    @property
    def names(self) -> list[str]:
        return [name for name, _ in self.items]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.items.append((tag, attrs))

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    @classmethod
    def of(cls, html: str) -> "TagCollector":
        collector = cls()
        collector.feed(html)
        collector.close()
        return collector


def test_hostile_alert_name_and_annotation_are_text_never_markup(shop) -> None:
    (shop / "rulesets" / "hostile.yaml").write_text(HOSTILE_RULES)
    settings = load_config("coverage-audit.yaml")
    findings = judge_everything(load_inputs(settings), settings)
    psp = next(f for f in findings if (f.subject.name, f.mode.id) == ("payments/psp", "latency"))
    assert psp.status == "covered" and psp.best.rule.name == HOSTILE_NAME  # it covers something, so it is shown

    out = shop / "reports"
    assert main(["report", "--out", str(out)]) == 0
    html = (out / "index.html").read_text()
    assert HOSTILE_NAME not in html and "<img" not in html and "javascript:" not in html.replace("javascript:alert(3)", "")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&lt;img src=x onerror=alert(2)&gt;" in html
    parsed = TagCollector.of(html)
    assert "script" not in parsed.names and "img" not in parsed.names
    assert not any(key.startswith("on") for _, attrs in parsed.items for key, _ in attrs)
    assert not any(value and value.startswith("javascript:") for _, attrs in parsed.items for _, value in attrs)
    text = "".join(parsed.text)
    assert HOSTILE_NAME in text and HOSTILE_SUMMARY in text  # shown, as text

    md = (out / "report.md").read_text()
    assert not re.search(r"(?<!\\)<(script|img)", md)  # every < of the input is escaped
    assert r"\<script\>alert\(1\)\</script\>" in md
    assert r"\<img src=x onerror=alert\(2\)\>" in md

    document = json.loads((out / "report.json").read_text())
    assert any(a["name"] == HOSTILE_NAME for f in document["findings"] for a in f["alerts"])  # JSON keeps it verbatim


# --------------------------------------------------------------------------- command behaviour


def test_fail_on_and_stdout_formats(shop, capsys) -> None:
    out = shop / "reports"
    assert main(["report", "--out", str(out), "--fail-on", "uncovered"]) == 1
    capsys.readouterr()
    assert main(["report", "--out", str(out), "--format", "json"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out) == json.loads((out / "report.json").read_text())
    assert captured.err == ""  # no progress output when stderr is not a terminal
    assert main(["report", "--out", str(out), "--format", "markdown"]) == 0
    assert capsys.readouterr().out == (out / "report.md").read_text()


def test_default_out_folder_is_reports(shop) -> None:
    assert main(["report"]) == 0
    assert sorted(os.listdir(shop / "reports")) == sorted([*FILES, "history.sqlite"])


class FakeTerminal(io.StringIO):
    def __init__(self, tty: bool) -> None:
        super().__init__()
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty


def test_progress_is_drawn_on_a_terminal_only_and_after_a_delay() -> None:
    now = [0.0]
    terminal = FakeTerminal(True)
    with Progress("judging", stream=terminal, delay=0.5, interval=0.1, clock=lambda: now[0]) as progress:
        progress(1, 4)  # too early: a short run stays quiet
        assert terminal.getvalue() == ""
        now[0] = 1.0
        progress(2, 4)
        now[0] = 1.05
        progress(3, 4)  # throttled
        now[0] = 1.06
        progress(4, 4)  # the last step is always drawn
    drawn = terminal.getvalue()
    assert "\rjudging: 2/4 (50%)" in drawn and "3/4" not in drawn and "\rjudging: 4/4 (100%)" in drawn
    assert drawn.endswith("\r")  # the line is cleared at the end

    pipe = FakeTerminal(False)
    quiet = Progress("judging", stream=pipe, delay=0, clock=lambda: 5.0)
    quiet(1, 1)
    quiet.finish()
    assert pipe.getvalue() == ""


# --------------------------------------------------------------------------- the README's alerting rules

README_RULES = re.search(r"### Alerting on coverage.*?```yaml\n(.*?)```", (ROOT / "README.md").read_text(encoding="utf-8"), re.S)
MODE = 'subject="payments/api",failure_mode="traffic_drop",service="payments",owner="team-payments",tier="critical"'
OLD_GAP = 'subject="cart/api",failure_mode="latency",service="cart",owner="team-checkout",tier="critical"'
RULE_TESTS = f"""rule_files: [rules.yaml]
evaluation_interval: 1m
tests:
  - interval: 1d
    input_series:
      - series: 'coverage_audit_failure_mode_status{{{MODE},status="uncovered"}}'
        values: '0x7 1x4'
      - series: 'coverage_audit_failure_mode_status{{{OLD_GAP},status="uncovered"}}'
        values: '1x11'
      - series: 'coverage_audit_coverage_ratio'
        values: '0.5x7 0.4x4'
      - series: 'coverage_audit_owner_coverage_ratio{{owner="team-payments"}}'
        values: '0.5x7 0.4x4'
      - series: 'coverage_audit_owner_coverage_ratio{{owner="team-orders"}}'
        values: '0.5x11'
      - series: 'coverage_audit_last_run_timestamp_seconds'
        values: '0+86400x3 259200x10'
    alert_rule_test:
      - eval_time: 3d  # the first week: no history to compare with yet
        alertname: CriticalFailureModeNewlyUncovered
        exp_alerts: []
      - eval_time: 7d
        alertname: CriticalFailureModeNewlyUncovered
        exp_alerts: []
      - eval_time: 8d
        alertname: CriticalFailureModeNewlyUncovered
        exp_alerts:
          - exp_labels: {{{MODE.replace('=', ': ')}, status: uncovered, severity: warning}}
            exp_annotations:
              summary: 'payments/api traffic_drop has no alert any more'
              description: 'Owner team-payments. The coverage report says why and drafts a replacement: coverage-audit draft --all.'
      - eval_time: 8d
        alertname: AlertCoverageDropped
        exp_alerts:
          - exp_labels: {{severity: warning}}
            exp_annotations: {{summary: 'Alert coverage fell to 40%'}}
      - eval_time: 7d
        alertname: AlertCoverageDropped
        exp_alerts: []
      - eval_time: 8d
        alertname: OwnerAlertCoverageDropped
        exp_alerts:
          - exp_labels: {{owner: team-payments, severity: warning}}
            exp_annotations: {{summary: 'Alert coverage of team-payments fell to 40%'}}
      - eval_time: 10d
        alertname: CoverageReportNotRunning
        exp_alerts: []
      - eval_time: 12d
        alertname: CoverageReportNotRunning
        exp_alerts:
          - exp_labels: {{severity: warning}}
            exp_annotations: {{summary: 'The coverage report has not run for 9d 0h 0m 0s'}}
"""


@pytest.mark.tools
@pytest.mark.skipif(PROMTOOL is None, reason="promtool not installed (Debian package 'prometheus')")
def test_the_readme_alerting_rules_are_valid_and_fire_on_a_coverage_drop(tmp_path) -> None:
    assert README_RULES is not None, "README.md lost its 'Alerting on coverage' rules"
    (tmp_path / "rules.yaml").write_text(README_RULES.group(1))
    (tmp_path / "tests.yaml").write_text(RULE_TESTS)
    checked = subprocess.run([PROMTOOL, "check", "rules", "rules.yaml"], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    tested = subprocess.run([PROMTOOL, "test", "rules", "tests.yaml"], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert tested.returncode == 0, tested.stdout + tested.stderr


def test_a_small_map_without_routing_or_business_metrics(tmp_path, monkeypatch) -> None:
    (tmp_path / "map.yaml").write_text(
        "apiVersion: coverage-audit/v1\nkind: ServiceMap\nservices:\n"
        "  - name: api\n    owner: team-a\n    selector: '{job=\"api\"}'\n"
        "    components:\n      - {name: web, kind: http_api, paths: ['api/**']}\n"
    )
    (tmp_path / "rules.yaml").write_text(
        "groups:\n  - name: api\n    rules:\n"
        "      - alert: ApiErrors\n"
        "        expr: sum(rate(http_requests_total{job=\"api\",code=~\"5..\"}[5m])) / sum(rate(http_requests_total{job=\"api\"}[5m])) > 0.05\n"
        "        for: 5m\n"
    )
    monkeypatch.chdir(tmp_path)
    assert main(["report", "--rules", "rules.yaml", "--service-map", "map.yaml", "--out", "out"]) == 0
    html = (tmp_path / "out" / "index.html").read_text()
    assert "Routing was not checked" in html and "names no business metrics" in html
    assert "Not checked: no Alertmanager configuration was given." in html
    document = json.loads((tmp_path / "out" / "report.json").read_text())
    assert document["routing_checked"] is False
    assert document["summary"] == {"total": 3, "covered": 1, "weak": 0, "uncovered": 2, "waived": 0}
    assert [g["name"] for g in document["overview"]["services"]] == ["api"]
    assert document["overview"]["business_metrics"] == []
    md = (tmp_path / "out" / "report.md").read_text()
    assert "_The service map names no business metrics._" in md
