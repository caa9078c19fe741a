"""``check --format markdown`` as a pull-request comment: under 65,000 characters whatever the
change, what fails the gate first, the rest folded, and markup from input files kept inert.

The comment is rendered to HTML with markdown-it-py (CommonMark with GitHub's tables and raw
HTML, as GitHub renders comments) and read back as a person would see it.
"""

from __future__ import annotations

import re
from dataclasses import replace
from html.parser import HTMLParser
from pathlib import Path

import pytest
from markdown_it import MarkdownIt

from coverage_audit.analysis.findings import CoverageReport, Finding, Summary
from coverage_audit.commands.adoption import settle
from coverage_audit.commands.common import judge_everything, load_inputs
from coverage_audit.config import load_config
from coverage_audit.model import Change
from coverage_audit.reporters.markdown import COMMENT_LIMIT, render_coverage, size

ROOT = Path(__file__).resolve().parents[1]


def gfm(markdown: str) -> str:
    return MarkdownIt("commonmark", {"html": True}).enable("table").enable("strikethrough").render(markdown)


class Tables(HTMLParser):
    """The tables of a page: rows of cell texts, and whether each sits inside <details>."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: list[tuple[bool, list[list[str]]]] = []
        self.details = 0
        self.cell: list[str] | None = None
        self.scripts = 0

    def handle_starttag(self, tag: str, attrs) -> None:  # type: ignore[no-untyped-def]
        if tag == "details":
            self.details += 1
        elif tag == "table":
            self.tables.append((self.details > 0, []))
        elif tag == "tr":
            self.tables[-1][1].append([])
        elif tag in ("td", "th"):
            self.cell = []
        elif tag == "script":
            self.scripts += 1

    def handle_endtag(self, tag: str) -> None:
        if tag == "details":
            self.details -= 1
        elif tag in ("td", "th") and self.cell is not None:
            self.tables[-1][1][-1].append("".join(self.cell).strip())
            self.cell = None

    def handle_data(self, data: str) -> None:
        if self.cell is not None:
            self.cell.append(data)


def read(markdown: str) -> Tables:
    tables = Tables()
    tables.feed(gfm(markdown))
    return tables


@pytest.fixture(scope="module")
def shop_findings() -> list[Finding]:
    """Every failure mode of the bundled shop, judged."""
    settings = load_config(str(ROOT / "coverage-audit.yaml"))
    return judge_everything(load_inputs(settings), settings)


def many(findings: list[Finding], copies: int) -> list[Finding]:
    """An organisation ``copies`` times the shop's size: the same verdicts on renamed subjects."""
    grown = []
    for index in range(copies):
        for finding in findings:
            subject = replace(finding.subject, name=f"{finding.subject.name}-{index:04d}")
            grown.append(replace(finding, subject=subject, impact=finding.impact or "dependency"))
    return grown


def report_of(findings: list[Finding]) -> CoverageReport:
    return CoverageReport(findings=tuple(findings), summary=Summary.of(findings), budget=900,
                          change=Change(paths=("libs/shared/client.py",)), change_components=("checkout/api",))


def test_a_change_that_touches_everything_still_fits(shop_findings) -> None:
    findings = settle(many(shop_findings, 400), load_config(str(ROOT / "coverage-audit.yaml")), {}, []).findings
    gaps = [f for f in findings if f.status in ("uncovered", "weak")]
    comment = render_coverage(report_of(list(findings)))
    assert len(findings) > 20_000 and size(comment) < COMMENT_LIMIT
    summary = Summary.of(findings)
    assert comment.startswith(f"### coverage-audit: ❌ {summary.uncovered} uncovered · ⚠️ {summary.weak} weak · ✅ {summary.covered} covered")
    page = read(comment)
    inside, rows = page.tables[0]
    assert not inside  # the gaps are open, first
    shown = rows[1:]
    statuses = [row[0].split()[-1] for row in shown]
    assert statuses == sorted(statuses, key=["uncovered", "weak"].index)  # uncovered before weak
    left = int(re.search(r"…and (\d+) more that do not fit in a comment", comment).group(1))  # type: ignore[union-attr]
    assert len(shown) + left == len(gaps)  # every gap is shown or counted
    assert comment.count("<details>") == comment.count("</details>")
    assert all(len(row) == 6 for row in shown)  # Status, Subject, Mode, Impact, Best alert, Why


def test_with_a_baseline_the_new_and_the_worse_come_first(shop_findings) -> None:
    findings = many(shop_findings, 3)
    deltas = ["unchanged", "new", "worse", "better"]
    marked = [replace(f, delta=deltas[i % 4]) for i, f in enumerate(findings)]  # type: ignore[arg-type]
    comment = render_coverage(replace(report_of(marked), baseline="main.json"))
    page = read(comment)
    inside, rows = page.tables[0]
    assert not inside and rows[0][1] == "Baseline"
    assert {row[1] for row in rows[1:]} == {"new", "worse"}
    folded = [table for table in page.tables if table[0]]
    assert {row[1] for row in folded[0][1][1:]} <= {"unchanged", "better"}
    assert "Known gaps, unchanged or better than the baseline" in comment


def test_text_from_input_files_cannot_break_the_comment(shop_findings) -> None:
    gap = next(f for f in shop_findings if f.status == "uncovered")
    hostile = replace(
        gap,
        subject=replace(gap.subject, name="pay|ments/`api`"),
        reason="</details><script>alert(1)</script> | ![x](https://evil.example/x.png) ## heading `code | pipe`",
    )
    comment = render_coverage(report_of([hostile, *shop_findings]))
    page = read(comment)
    assert page.scripts == 0 and "<script>" not in gfm(comment) and "<img" not in gfm(comment)
    first = page.tables[0][1]
    assert all(len(row) == 6 for row in first)  # no extra cells from the pipes
    assert first[1][1] == "pay|ments/`api`" and first[1][5].startswith("</details><script>")  # shown as text


def test_a_tiny_limit_still_gives_a_valid_comment(shop_findings) -> None:
    comment = render_coverage(report_of(shop_findings), limit=1500)
    assert size(comment) <= 1500
    assert "more that do not fit in a comment" in comment or "do not fit in a comment" in comment
    assert comment.count("<details>") == comment.count("</details>")


@pytest.mark.corpus
def test_the_gitlab_com_comment_fits_and_reads_well(corpus_dir, capsys) -> None:
    """A change to GitLab.com's camoproxy server, against its real rules (896 files), routing tree
    (80 receivers) and service map (../shared/realworld/gitlab)."""
    from coverage_audit.cli import main

    gitlab = corpus_dir.parent / "realworld" / "gitlab"
    if not gitlab.is_dir():
        pytest.skip(f"the GitLab.com service map is not at {gitlab}")
    rules = corpus_dir / "mattrussi__gitlab-com-runbooks" / "mimir-rules" / "gitlab-gprd"
    code = main(["check", "--rules", str(rules), "--alertmanager", str(gitlab / "alertmanager.yaml"),
                 "--service-map", str(gitlab / "service-map.yaml"), "--component", "camoproxy/server", "--format", "markdown"])
    comment = capsys.readouterr().out
    assert code in (0, 1) and size(comment) < COMMENT_LIMIT
    counts = {status: int(n) for n, status in re.findall(r"(\d+) (uncovered|weak|covered)", comment.splitlines()[0])}
    page = read(comment)
    rows = [row for _, table in page.tables for row in table[1:]]
    assert len(rows) == sum(counts.values()) == 3  # errors, latency, traffic_drop: every one shown once
    for status, n in counts.items():
        assert sum(row[0].split()[-1] == status for row in rows) == n
    open_rows = page.tables[0][1][1:]
    assert all(row[0].split()[-1] in ("uncovered", "weak") for row in open_rows) and not page.tables[0][0]
    said = re.search(r"Rule files are under (\S+)/\.", gfm(comment).replace("<code>", "").replace("</code>", ""))
    assert said is not None and said.group(1).startswith(str(rules))  # the long shared folder, said once
    for row in rows:
        assert len(row) == 6 and str(corpus_dir) not in row[4]  # locations relative to the rule folder
        assert len(row[5]) <= 400
