"""The HTML report at scale: its size, the time to render it, and the time a browser takes to
open it, on a synthetic organisation of ~10,000 findings or on GitLab.com.

    .venv/bin/python benchmarks/bench_report_html.py [--services 800] [--gitlab] [--runs 3] [--keep DIR]

The organisation is judged once, in this process (that is `check`'s and `report`'s cost, which
the other benchmarks measure); then the overview and the page are built ``--runs`` times (best
counts), the page is written, and headless Chromium loads it (the whole page
parsed and laid out: the time from navigation to the load event). Prints the size of the page
and of each section. A benchmark, not a test: the numbers go in the closing notes.
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(ROOT))

from bench_gitlab import REALWORLD, RULES  # noqa: E402
from measure import machine, revision  # noqa: E402
from synthetic_org import generate  # noqa: E402

from coverage_audit.analysis.findings import CoverageReport, Summary  # noqa: E402
from coverage_audit.analysis.overview import build_overview  # noqa: E402
from coverage_audit.commands import judge_everything, load_inputs  # noqa: E402
from coverage_audit.config import Settings  # noqa: E402
from coverage_audit.reporters import html  # noqa: E402


def browser_seconds(page: Path, profile: Path) -> float:
    """Navigation to the load event in headless Chromium (the DevTools client the browser
    test uses): the page parsed and laid out, as a reader waits for it."""
    sys.path.insert(0, str(ROOT / "tests"))
    from test_report_browser import DevTools

    browser = DevTools(profile)
    try:
        browser.open_page()
        started = time.perf_counter()
        browser.send("Page.navigate", {"url": page.as_uri()})
        browser.wait_for("Page.loadEventFired")
        return time.perf_counter() - started
    finally:
        browser.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--services", type=int, default=800, help="synthetic organisation size (800: ~10,500 findings)")
    parser.add_argument("--gitlab", action="store_true", help="GitLab.com's rules, map and Alertmanager config instead")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--keep", type=Path, help="keep the organisation and the page in DIR")
    args = parser.parse_args()
    print(f"coverage-audit at {revision()}; {machine()}\n", flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-html-") as temporary:
        folder = args.keep or Path(temporary)
        folder.mkdir(parents=True, exist_ok=True)
        if args.gitlab:
            settings = Settings(rules=(str(RULES),), alertmanager=str(REALWORLD / "alertmanager.yaml"),
                                service_maps=(str(REALWORLD / "service-map.yaml"),), no_cache=True)  # fmt: skip
            what = "GitLab.com"
        else:
            org = generate(folder / "org", args.services)
            settings = Settings(rules=(str(org.rules_dir),), alertmanager=str(org.alertmanager),
                                service_maps=(str(org.service_maps_dir),), no_cache=True)  # fmt: skip
            what = f"synthetic organisation of {org.services} services ({org.rules} rules)"
        started = time.perf_counter()
        findings = judge_everything(load_inputs(settings), settings)
        judged = time.perf_counter() - started
        report = CoverageReport(tuple(findings), Summary.of(findings), settings.budget)
        overview_times, render_times = [], []
        page = ""
        for _ in range(args.runs):
            started = time.perf_counter()
            overview = build_overview(findings, "2026-01-05T06:00:00+00:00", settings.budget)
            overview_times.append(time.perf_counter() - started)
            started = time.perf_counter()
            page = html.render_report(report, overview)
            render_times.append(time.perf_counter() - started)
        path = folder / "index.html"
        path.write_text(page, encoding="utf-8")
        alerts = sum(len(f.alerts) for f in findings)
        print(f"{what}: {len(findings)} findings naming {alerts} covering alerts ({alerts / max(len(findings), 1):.1f} a finding); judged in {judged:.1f} s")
        print(f"overview {min(overview_times):.2f} s, HTML {min(render_times):.2f} s (best of {args.runs}); "
              f"index.html {len(page.encode()) / 1024**2:.2f} MiB, {len(page.encode()) / max(len(findings), 1):.0f} bytes a finding")  # fmt: skip
        sections = re.split(r'(<section id="[a-z-]+">)', page)
        print("  " + ", ".join(f"{sections[i][13:-2]} {len(sections[i + 1].encode()) / 1024:.0f} KiB" for i in range(1, len(sections), 2)))
        if shutil.which("chromium"):
            loaded = min(browser_seconds(path, folder / f"profile-{n}") for n in range(2))
            print(f"headless Chromium: {loaded:.2f} s from navigation to the load event")
    return 0


if __name__ == "__main__":
    sys.exit(main())
