"""``check`` answers from the verdicts a previous run kept when no input changed (issue 10): the
same bytes out and the same exit code, without reading a rule; any changed input, setting or
unjudged mode is judged again; --no-cache, live sources and --prove never use them."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

import coverage_audit.commands.rulesource as rulesource
from coverage_audit.cli import main
from coverage_audit.commands import verdicts
from coverage_audit.config import Settings
from coverage_audit.live.endpoint import Endpoint

ROOT = Path(__file__).resolve().parents[1]
CHANGE = "services/checkout/handlers/place_order.py"


@pytest.fixture()
def shop(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The bundled example in a folder of its own, so no other test's verdicts are kept for it."""
    for name in ("rulesets", "service_maps", "coverage-audit.yaml"):
        source = ROOT / name
        (shutil.copytree if source.is_dir() else shutil.copy)(source, tmp_path / name)
    monkeypatch.chdir(tmp_path)
    return tmp_path


class Loads:
    """Counts how often the rule files are read (through the per-file cache or not)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0
        real = rulesource.load_rules

        def counted(*args, **kwargs):  # type: ignore[no-untyped-def]
            self.count += 1
            return real(*args, **kwargs)

        monkeypatch.setattr(rulesource, "load_rules", counted)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["check", *argv, "--cache-dir", "cache"])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.parametrize("form", ["text", "json"])
def test_an_unchanged_query_is_answered_from_kept_verdicts_byte_for_byte(shop: Path, monkeypatch, capsys, form: str) -> None:
    loads = Loads(monkeypatch)
    cold = run(capsys, "--changed", CHANGE, "--format", form)
    assert loads.count == 1 and cold[0] == 1  # the shop has gaps
    warm = run(capsys, "--changed", CHANGE, "--format", form)
    assert loads.count == 1, "the warm run read the rules"
    assert warm == cold


def test_a_changed_rule_file_is_judged_again(shop: Path, monkeypatch, capsys) -> None:
    loads = Loads(monkeypatch)
    cold = run(capsys, "--changed", CHANGE)
    # The checkout 5xx alert no longer pages: a verdict that must change, not only the bytes.
    checkout = shop / "rulesets" / "checkout.yaml"
    checkout.write_text(checkout.read_text().replace("CheckoutHigh5xxRate", "CheckoutHigh5xxRateRenamed"))
    edited = run(capsys, "--changed", CHANGE)
    assert loads.count == 2
    assert "CheckoutHigh5xxRateRenamed" in edited[1] and "CheckoutHigh5xxRateRenamed" not in cold[1]


@pytest.mark.parametrize("edit", ["map", "setting"])
def test_a_changed_map_or_setting_is_judged_again(shop: Path, monkeypatch, capsys, edit: str) -> None:
    loads = Loads(monkeypatch)
    run(capsys, "--changed", CHANGE)
    if edit == "map":
        shop_map = shop / "service_maps" / "shop.yaml"
        shop_map.write_text(shop_map.read_text() + "\n# edited\n")
        again = run(capsys, "--changed", CHANGE)
    else:
        again = run(capsys, "--changed", CHANGE, "--budget", "1h")
        assert "budget 1h" in again[1]
    assert loads.count == 2


def test_modes_never_judged_are_judged_and_kept_for_the_next_query(shop: Path, monkeypatch, capsys) -> None:
    loads = Loads(monkeypatch)
    run(capsys, "--changed", CHANGE)
    other = run(capsys, "--component", "payments/api")
    assert loads.count == 2  # payments was not impacted by the first change
    assert run(capsys, "--component", "payments/api") == other
    assert run(capsys, "--changed", CHANGE)[0] == 1
    assert loads.count == 2  # both answered from the one entry


def test_input_errors_are_kept_with_the_verdicts(shop: Path, monkeypatch, capsys) -> None:
    (shop / "rulesets" / "broken.yaml").write_text("groups:\n  - name: g\n    rules:\n      - alert: Broken\n        expr: 'rate(x[5m]) >'\n")
    loads = Loads(monkeypatch)
    cold = run(capsys, "--changed", CHANGE)
    warm = run(capsys, "--changed", CHANGE)
    assert cold[0] == warm[0] == 2 and "broken.yaml:5" in warm[2]
    assert warm == cold and loads.count == 1


def test_a_corrupt_entry_is_judged_again_and_replaced(shop: Path, monkeypatch, capsys) -> None:
    loads = Loads(monkeypatch)
    cold = run(capsys, "--changed", CHANGE)
    (entry,) = (shop / "cache" / verdicts.KIND).glob("*/*")
    entry.write_bytes(entry.read_bytes()[:-100])
    assert run(capsys, "--changed", CHANGE) == cold
    assert loads.count == 2
    assert run(capsys, "--changed", CHANGE) == cold and loads.count == 2  # rewritten whole


def test_no_cache_neither_reads_nor_keeps_verdicts(shop: Path, monkeypatch, capsys) -> None:
    loads = Loads(monkeypatch)
    for _ in range(2):
        assert main(["check", "--changed", CHANGE, "--cache-dir", "cache", "--no-cache"]) == 1
    assert loads.count == 2 and not (shop / "cache").exists()


def test_live_sources_and_proof_are_never_answered_from_files() -> None:
    files = Settings(rules=("r",), service_maps=("m",))
    assert verdicts.usable(files, {})
    assert not verdicts.usable(files, {"prove": True})
    assert not verdicts.usable(Settings(prometheus=Endpoint("http://127.0.0.1:9090")), {})
    assert not verdicts.usable(Settings(alertmanager_url=Endpoint("http://127.0.0.1:9093")), {})
    assert not verdicts.usable(Settings(no_cache=True), {})


def test_an_unreadable_input_is_not_keyed(tmp_path: Path) -> None:
    """No key without every input's bytes: the usual run reports the missing file."""
    (tmp_path / "rules.yaml").write_text("groups: []\n")
    (tmp_path / "map.yaml").write_text("services: []\n")
    base = Settings(rules=(str(tmp_path / "rules.yaml"),), service_maps=(str(tmp_path / "map.yaml"),))
    assert verdicts.inputs_key(base) is not None
    assert verdicts.inputs_key(Settings(rules=(str(tmp_path / "missing.yaml"),), service_maps=base.service_maps)) is None
    assert verdicts.inputs_key(Settings(rules=base.rules, service_maps=base.service_maps, alertmanager=str(tmp_path / "gone.yaml"))) is None
    # where the answer goes is not in the key; what it judges is
    assert verdicts.inputs_key(Settings(rules=base.rules, service_maps=base.service_maps, format="json")) == verdicts.inputs_key(base)
    assert verdicts.inputs_key(Settings(rules=base.rules, service_maps=base.service_maps, scenario="canary")) != verdicts.inputs_key(base)


def test_a_repeated_query_needs_no_graph_walk(shop: Path) -> None:
    """The impact of a change asked before is kept too: the answer imports neither networkx
    nor the judge (a fifth of a second of the warm run)."""
    import subprocess
    import sys

    probe = (
        "import sys; from coverage_audit.cli import main; "
        f"code = main(['check', '--changed', {CHANGE!r}, '--cache-dir', 'cache']); "
        "print(code, 'networkx' in sys.modules, 'coverage_audit.analysis.coverage' in sys.modules)"
    )
    runs = [subprocess.run([sys.executable, "-c", probe], cwd=shop, capture_output=True, text=True, timeout=120) for _ in range(3)]
    lines = [run.stdout.strip().splitlines()[-1] for run in runs]
    assert lines[0] == "1 True True"  # judged
    assert lines[2] == "1 False False", lines  # answered from the kept verdicts and impact
