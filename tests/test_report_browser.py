"""The HTML report in a real headless Chromium (Debian's ``chromium``, installed by .ci/run).

Chromium is driven over its DevTools protocol on a pipe (``--remote-debugging-pipe``: fd 3 in,
fd 4 out, NUL-separated JSON), with the standard library only: no browser download, no port,
no driver package whose protocol version could drift from the installed browser.

Checked there: the page renders, the SVG charts are present and have shapes, the summary is
visible, nothing is logged to the console and no error is thrown, and no request leaves the
page (the page's own file is the only URL requested). A full-page screenshot is kept in
``tests/artifacts/report.png``.
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import queue
import re
import shutil
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from coverage_audit.cli import main

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "tests" / "artifacts"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
TIMEOUT = 60.0
FLAGS = [
    "--headless",
    "--no-sandbox",  # CI runs as root, where the sandbox refuses to start
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-extensions",
    "--no-first-run",
    "--no-default-browser-check",
    "--mute-audio",
    "--remote-debugging-pipe",
]

pytestmark = [
    pytest.mark.tools,
    pytest.mark.skipif(not os.access(CHROMIUM, os.X_OK), reason=f"chromium not found at {CHROMIUM} (Debian package 'chromium'; scripts/bootstrap.sh installs it)"),
]


class DevTools:
    """A minimal DevTools-protocol client over Chromium's debugging pipe."""

    def __init__(self, profile: Path) -> None:
        to_browser_read, self._to_browser = os.pipe()
        self._from_browser, from_browser_write = os.pipe()
        # The protocol wants exactly fds 3 (commands in) and 4 (answers out). Copies above 10 are
        # handed to bash (dash takes single-digit fds only), which places them there, so no fd the child needs is overwritten.
        theirs = [fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10) for fd in (to_browser_read, from_browser_write)]
        for fd in (to_browser_read, from_browser_write):
            os.close(fd)
        self.process = subprocess.Popen(
            ["/bin/bash", "-c", f'exec "$0" "$@" 3<&{theirs[0]} 4>&{theirs[1]} {theirs[0]}<&- {theirs[1]}>&-',
             CHROMIUM, *FLAGS, f"--user-data-dir={profile}", "about:blank"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            pass_fds=tuple(theirs),
        )
        for fd in theirs:
            os.close(fd)
        self._next_id = 0
        self._messages: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self.events: list[dict[str, Any]] = []
        self._stderr: list[bytes] = []
        threading.Thread(target=self._read, daemon=True).start()
        threading.Thread(target=lambda: self._stderr.extend(self.process.stderr), daemon=True).start()  # type: ignore[arg-type]
        self.session: str | None = None

    def _read(self) -> None:
        buffer = b""
        with os.fdopen(self._from_browser, "rb", buffering=0) as stream:
            while chunk := stream.read(65536):
                buffer += chunk
                while b"\0" in buffer:
                    message, buffer = buffer.split(b"\0", 1)
                    self._messages.put(json.loads(message))
        self._messages.put(None)

    def send(self, method: str, params: dict[str, Any] | None = None, session: bool = True) -> dict[str, Any]:
        self._next_id += 1
        request: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if session and self.session:
            request["sessionId"] = self.session
        os.write(self._to_browser, json.dumps(request).encode() + b"\0")
        deadline = time.monotonic() + TIMEOUT
        while True:
            message = self._take(deadline, method)
            if message.get("id") == self._next_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})
            self.events.append(message)

    def wait_for(self, event: str) -> dict[str, Any]:
        for message in self.events:
            if message.get("method") == event:
                return message
        deadline = time.monotonic() + TIMEOUT
        while True:
            message = self._take(deadline, event)
            self.events.append(message)
            if message.get("method") == event:
                return message

    def _take(self, deadline: float, waiting_for: str) -> dict[str, Any]:
        try:
            message = self._messages.get(timeout=max(deadline - time.monotonic(), 0.01))
        except queue.Empty:
            raise TimeoutError(f"Chromium did not answer {waiting_for} within {TIMEOUT}s") from None
        if message is None:
            raise RuntimeError(f"Chromium closed the pipe: {b''.join(self._stderr).decode(errors='replace')[-2000:]}")
        return message

    def open_page(self) -> None:
        target = self.send("Target.createTarget", {"url": "about:blank"}, session=False)["targetId"]
        self.session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True}, session=False)["sessionId"]
        for domain in ("Page", "Runtime", "Log", "Network"):
            self.send(f"{domain}.enable")

    def evaluate(self, expression: str) -> Any:
        result = self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True})
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def named(self, method: str) -> list[dict[str, Any]]:
        return [m["params"] for m in self.events if m.get("method") == method]

    def close(self) -> None:
        try:
            self.send("Browser.close", session=False)
        except (RuntimeError, TimeoutError, OSError):
            pass
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        os.close(self._to_browser)


FACTS = """(() => {
    const charts = [...document.querySelectorAll('svg.chart')];
    const visible = (el) => { const r = el.getBoundingClientRect(); return r.width > 0 && r.height > 0; };
    const summary = document.querySelector('#summary');
    return {
        title: document.title,
        charts: charts.length,
        visibleCharts: charts.filter(visible).length,
        barSegments: document.querySelectorAll('svg.bars rect.seg').length,
        segmentsWithArea: [...document.querySelectorAll('svg.bars rect.seg')].filter(visible).length,
        trendLines: document.querySelectorAll('svg.trend polyline').length,
        trendPoints: document.querySelectorAll('svg.trend circle').length,
        summaryVisible: summary !== null && visible(summary),
        summaryText: summary ? summary.innerText : '',
        counts: Object.fromEntries([...document.querySelectorAll('.card .n[data-status]')].map(e => [e.dataset.status, e.innerText])),
        findingsText: document.querySelector('#findings').innerText,
        scripts: document.scripts.length,
        images: document.images.length,
        eventHandlers: [...document.querySelectorAll('*')].filter(e => [...e.attributes].some(a => a.name.startsWith('on'))).length,
        resources: performance.getEntriesByType('resource').map(e => e.name),
        height: document.documentElement.scrollHeight,
    };
})()"""


OPEN_EVERYTHING = """(() => {
    document.querySelectorAll('details').forEach(d => { d.open = true; });
    return {findings: document.querySelector('#findings').innerText, alerts: document.querySelector('#alerts').innerText};
})()"""


def visit(page: Path, profile: Path, screenshot: Path | None = None, then: str | None = None) -> dict[str, Any]:
    """Opens the page; returns what the page shows and every event the browser reported.
    ``then``: an expression evaluated after the facts are read (its value is ``"then"``)."""
    browser = DevTools(profile)
    try:
        browser.open_page()
        browser.send("Emulation.setDeviceMetricsOverride", {"width": 1280, "height": 900, "deviceScaleFactor": 1, "mobile": False})
        browser.send("Page.navigate", {"url": page.as_uri()})
        browser.wait_for("Page.loadEventFired")
        facts = browser.evaluate(FACTS)
        if then is not None:
            facts["then"] = browser.evaluate(then)
        if screenshot is not None:
            screenshot.parent.mkdir(parents=True, exist_ok=True)
            height = min(int(facts["height"]), 16000)
            browser.send("Emulation.setDeviceMetricsOverride", {"width": 1280, "height": height, "deviceScaleFactor": 1, "mobile": False})
            shot = browser.send("Page.captureScreenshot", {"format": "png"})
            screenshot.write_bytes(base64.b64decode(shot["data"]))
        browser.evaluate("1")  # a round trip, so events the page raised while loading have arrived
        return {"page": page, "facts": facts, "browser": browser}
    finally:
        browser.close()


@pytest.fixture(scope="module")
def loaded(tmp_path_factory, monkeypatch_module) -> dict[str, Any]:
    """The bundled example's report, rendered twice (so the trend has two points)."""
    out = tmp_path_factory.mktemp("report")
    for _ in range(2):
        assert main(["report", "--out", str(out)]) == 0
    return visit((out / "index.html").resolve(), tmp_path_factory.mktemp("chromium-profile"), ARTIFACTS / "report.png")


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(ROOT)
        yield patch


def test_page_renders_with_its_title_and_summary(loaded) -> None:
    facts = loaded["facts"]
    assert facts["title"].startswith("Alert coverage report")
    assert facts["summaryVisible"]
    assert "of 57 failure modes are covered" in facts["summaryText"]
    assert set(facts["counts"]) == {"covered", "weak", "uncovered"}
    assert sum(int(v) for v in facts["counts"].values()) == 57


def test_charts_are_present_and_have_shapes(loaded) -> None:
    facts = loaded["facts"]
    # summary, business metrics, services, owners, trend
    assert facts["charts"] == 5 and facts["visibleCharts"] == 5
    assert facts["barSegments"] > 20 and facts["segmentsWithArea"] == facts["barSegments"]
    assert facts["trendLines"] == 2  # covered, and covered-or-weak
    assert facts["trendPoints"] == 4  # two runs on each line


def test_no_console_messages_and_no_errors(loaded) -> None:
    browser = loaded["browser"]
    console = browser.named("Runtime.consoleAPICalled")
    thrown = browser.named("Runtime.exceptionThrown")
    log = [entry["entry"] for entry in browser.named("Log.entryAdded")]
    assert console == [] and thrown == [] and log == [], (console, thrown, log)
    assert loaded["facts"]["scripts"] == 0


def test_no_request_leaves_the_page(loaded) -> None:
    browser = loaded["browser"]
    requested = [event["request"]["url"] for event in browser.named("Network.requestWillBeSent")]
    assert requested == [loaded["page"].as_uri()]
    assert browser.named("Network.loadingFailed") == []
    assert loaded["facts"]["resources"] == []


def test_hostile_alert_and_annotation_show_as_text_in_the_browser(tmp_path, monkeypatch) -> None:
    from test_report import HOSTILE_NAME, HOSTILE_RULES, HOSTILE_SUMMARY

    for name in ("rulesets", "service_maps"):
        shutil.copytree(ROOT / name, tmp_path / name)
    shutil.copy(ROOT / "coverage-audit.yaml", tmp_path / "coverage-audit.yaml")
    (tmp_path / "rulesets" / "hostile.yaml").write_text(HOSTILE_RULES)
    monkeypatch.chdir(tmp_path)
    assert main(["report", "--out", "reports"]) == 0
    seen = visit((tmp_path / "reports" / "index.html").resolve(), tmp_path / "profile", then=OPEN_EVERYTHING)
    facts, browser = seen["facts"], seen["browser"]
    shown = facts["then"]  # every group opened, as a reader would: the text they read
    assert HOSTILE_NAME in shown["findings"] and HOSTILE_NAME in shown["alerts"] and HOSTILE_SUMMARY in shown["alerts"]
    assert facts["scripts"] == 0 and facts["images"] == 0 and facts["eventHandlers"] == 0
    assert browser.named("Runtime.consoleAPICalled") == [] and browser.named("Log.entryAdded") == []
    assert [e["request"]["url"] for e in browser.named("Network.requestWillBeSent")] == [seen["page"].as_uri()]


def test_screenshot_is_kept_as_an_artifact(loaded) -> None:
    shot = (ARTIFACTS / "report.png").read_bytes()
    assert shot[:8] == b"\x89PNG\r\n\x1a\n" and len(shot) > 20_000


# --------------------------------------------------------------------------- a large report

LARGE_FINDINGS = 10_000
CLICK = """((selector, index) => {
    const el = document.querySelectorAll(selector)[index];
    el.scrollIntoView({block: 'center'});
    const r = el.getBoundingClientRect();
    return {x: r.left + Math.min(r.width / 2, 40), y: r.top + r.height / 2};
})"""
LARGE_FACTS = """(() => {
    const details = [...document.querySelectorAll('details')];
    const rendered = (el) => el.checkVisibility();  // false inside a closed <details>, whatever its layout
    const owners = [...document.querySelectorAll('#findings > details.owner')];
    const first = owners[0];
    const firstGroups = [...first.querySelectorAll(':scope > details.group')];
    return {
        details: details.length,
        open: details.filter(d => d.open).length,
        owners: owners.length,
        groups: document.querySelectorAll('#findings details.group').length,
        rows: document.querySelectorAll('#findings tbody tr').length,
        renderedRows: [...document.querySelectorAll('#findings tbody tr')].filter(rendered).length,
        firstOpen: first.open,
        firstGroupsRendered: firstGroups.filter(rendered).length,
        firstGroupsOpen: firstGroups.filter(d => d.open).length,
        firstGroupRows: firstGroups.length ? firstGroups[0].querySelectorAll('tbody tr').length : 0,
        firstGroupRowsRendered: firstGroups.length ? [...firstGroups[0].querySelectorAll('tbody tr')].filter(rendered).length : 0,
        firstLink: firstGroups.length ? (firstGroups[0].querySelector('tbody a[href^="#a"]') || {}).hash || null : null,
    };
})()"""


def click(browser: DevTools, selector: str, index: int = 0) -> None:
    """A real mouse click (pressed and released) on an element, as a reader would."""
    point = browser.evaluate(f"{CLICK}({json.dumps(selector)}, {index})")
    for kind in ("mousePressed", "mouseReleased"):
        browser.send("Input.dispatchMouseEvent", {"type": kind, "x": point["x"], "y": point["y"], "button": "left", "clickCount": 1})


def replicated(findings: list[Any], copies: int) -> list[Any]:
    """The findings of a judged organisation, repeated under other owners and services, as
    many teams would have them: real findings at a scale judging them would take minutes."""
    from dataclasses import replace

    result = []
    for copy in range(copies):
        for f in findings:
            subject = f.subject
            service = f"{subject.service}-{copy}" if subject.service else None
            name = f"{service}/{subject.name.split('/', 1)[1]}" if service else f"{subject.name}-{copy}"
            result.append(replace(f, subject=replace(subject, name=name, service=service, owner=f"{subject.owner}-{copy}")))
    return result


@pytest.fixture(scope="module")
def large(tmp_path_factory) -> dict[str, Any]:
    import sys

    from coverage_audit.analysis.findings import CoverageReport, Summary, order_findings
    from coverage_audit.analysis.overview import build_overview
    from coverage_audit.commands import judge_everything, load_inputs
    from coverage_audit.config import Settings
    from coverage_audit.reporters import html

    sys.path.insert(0, str(ROOT / "benchmarks"))
    from synthetic_org import generate

    folder = tmp_path_factory.mktemp("large")
    org = generate(folder / "org", 40)
    settings = Settings(rules=(str(org.rules_dir),), alertmanager=str(org.alertmanager), service_maps=(str(org.service_maps_dir),), no_cache=True)
    judged = judge_everything(load_inputs(settings), settings)
    findings = order_findings(replicated(judged, -(-LARGE_FINDINGS // len(judged))))
    overview = build_overview(findings, "2026-01-05T06:00:00+00:00", settings.budget)
    page = html.render_report(CoverageReport(tuple(findings), Summary.of(findings), settings.budget), overview)
    path = folder / "index.html"
    path.write_text(page, encoding="utf-8")
    browser = DevTools(tmp_path_factory.mktemp("chromium-large"))
    try:
        browser.open_page()
        browser.send("Emulation.setDeviceMetricsOverride", {"width": 1280, "height": 900, "deviceScaleFactor": 1, "mobile": False})
        browser.send("Page.navigate", {"url": path.as_uri()})
        browser.wait_for("Page.loadEventFired")
        loaded_facts = browser.evaluate(LARGE_FACTS)
        click(browser, "#findings > details.owner > summary")
        owner_opened = browser.evaluate(LARGE_FACTS)
        click(browser, "#findings > details.owner > details.group > summary")
        group_opened = browser.evaluate(LARGE_FACTS)
        alert = group_opened["firstLink"]
        if alert:  # following a link into a collapsed group of the alert index opens it
            click(browser, f'#findings a[href="{alert}"]')
            browser.evaluate("1")
        target = browser.evaluate(f"(() => {{ const t = document.getElementById({json.dumps((alert or '#')[1:])}); return t ? {{open: t.closest('details').open, shown: t.checkVisibility(), hash: location.hash}} : null; }})()")
        counts = browser.evaluate("Object.fromEntries([...document.querySelectorAll('.card .n[data-status]')].map(e => [e.dataset.status, e.innerText]))")
        browser.evaluate("1")
    finally:
        browser.close()
    return {"findings": findings, "overview": overview, "page": page, "path": path, "browser": browser,
            "loaded": loaded_facts, "owner": owner_opened, "group": group_opened, "target": target, "counts": counts}


def test_a_large_report_opens_with_every_group_collapsed(large) -> None:
    findings, facts = large["findings"], large["loaded"]
    assert len(findings) >= LARGE_FINDINGS
    owners = {f.subject.owner for f in findings}
    groups = {(f.subject.owner, f.subject.service or f.subject.name) for f in findings}
    assert facts["owners"] == len(owners) and facts["groups"] == len(groups)
    assert facts["open"] == 0 and facts["details"] >= len(owners) + len(groups)
    assert facts["rows"] >= len(findings) // 5  # one row per finding; a subject's cell spans its modes
    assert facts["renderedRows"] == 0  # nothing of the findings is laid out until a group opens
    assert sum(int(v) for v in large["counts"].values()) == len(findings)


def test_a_large_report_expands_a_group_on_a_click(large) -> None:
    owner, group = large["owner"], large["group"]
    assert owner["firstOpen"] and owner["firstGroupsRendered"] > 0 and owner["firstGroupsOpen"] == 0
    assert owner["renderedRows"] == 0  # the owner's services show, still collapsed
    assert group["firstGroupsOpen"] == 1 and group["firstGroupRows"] > 0
    assert group["firstGroupRowsRendered"] == group["firstGroupRows"] == group["renderedRows"]


def test_a_link_to_an_alert_opens_its_collapsed_definition(large) -> None:
    target = large["target"]
    assert large["group"]["firstLink"], "the first group names no alert"
    assert target == {"open": True, "shown": True, "hash": large["group"]["firstLink"]}


def test_a_large_report_stays_small_quiet_and_self_contained(large) -> None:
    page, findings, browser = large["page"], large["findings"], large["browser"]
    # every alert is written once, however many findings name it
    assert len(page.encode()) < 1024 * len(findings), f"{len(page.encode()) / len(findings):.0f} bytes a finding"
    index = [f'id="{anchor}"' for anchor in re.findall(r'href="#(a\d+)"', page)]
    assert index and all(page.count(ref) == 1 for ref in set(index))
    assert browser.named("Runtime.consoleAPICalled") == [] and browser.named("Runtime.exceptionThrown") == []
    assert [e["request"]["url"] for e in browser.named("Network.requestWillBeSent")] == [large["path"].as_uri()]
