"""Guidance over a pulled log: evidence, receipt policy, the technician's
report (text, JSON, HTML opened in headless Chromium), and every catalogue
id reached from a scenario, a record, a history, a question or a policy."""

from __future__ import annotations

import json
import subprocess
import tempfile
from pathlib import Path

import pytest

from host_tools.catalog_names import CAUSE_IDS, cause_id
from host_tools.diagnosis import diagnose, policy_entry, ranked_causes
from host_tools.findings import analyse
from host_tools.sim import faults, parts
from host_tools.troubleshoot import TREE
from posdiag import catalog as c
from posdiag import config, record
from posdiag.hal import FileStorage, Parts, Sensor
from posdiag.terminal import Terminal

from .conftest import SimProcess, posdiag_cmd
from .test_ereceipt import browse


def posdiag(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(posdiag_cmd(*args), capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def pulled(tmp_path_factory: pytest.TempPathFactory) -> Path:

    sim = SimProcess("--history", "300", "--fault", "paper-out")
    try:
        out = tmp_path_factory.mktemp("report") / "log.cbor"
        assert posdiag("pull", sim.port, "-o", str(out)).returncode == 0
        return out
    finally:
        sim.stop()


def test_text_report_has_the_newest_diagnosis_and_the_history(pulled: Path) -> None:
    out = posdiag("report", str(pulled)).stdout
    assert "Most likely cause: paper-out" in out and "Evidence: printer.flags" in out
    assert "Over the whole log:" in out and "Records by top cause: healthy" in out
    assert "[link-intermittent]" in out  # the simulated past has a cable that comes and goes


def test_json_report(pulled: Path) -> None:
    rep = json.loads(posdiag("report", str(pulled), "--json", "--lang", "zh").stdout)
    assert rep["newest"]["causes"][0]["id"] == "paper-out"
    assert sum(rep["records_by_top_cause"].values()) == 301
    assert any(f["id"] == "link-intermittent" and "接头" in f["finding"] for f in rep["findings"])


def test_html_report_opens_in_chromium(pulled: Path, tmp_path: Path) -> None:
    page = tmp_path / "report.html"
    assert posdiag("report", str(pulled), "--html", str(page)).returncode == 0
    text = page.read_text()
    assert "<script" not in text and "://" not in text  # self-contained: nothing loaded from elsewhere
    assert "Content-Security-Policy" in text and "default-src 'none'" in text
    assert text.count("<tr><td class=n>") == 301  # the whole timeline
    dom = browse(page.as_uri(), tmp_path, "--dump-dom", "--enable-logging=stderr", "--v=0")
    assert dom.returncode == 0 and "posdiag report · SIM-0001" in dom.stdout
    assert "Findings over the whole log" in dom.stdout
    assert "Uncaught" not in dom.stderr and "Refused to" not in dom.stderr


@pytest.mark.parametrize(
    "policy,offered",
    [("paper-required", False), ("electronic-allowed", True), ("on-request", True)],
)
def test_receipt_policy_changes_the_advice(pulled: Path, policy: str, offered: bool) -> None:
    lines = posdiag("decode", str(pulled), "--json", "--policy", policy).stdout.splitlines()
    causes = json.loads(lines[-1])["causes"]
    assert [x["id"] for x in causes] == ["paper-out", "receipt-policy"]
    assert causes[-1]["policy"] == policy
    assert all(x["e_receipt"] is offered for x in causes)


def test_evidence_carries_the_readings(pulled: Path) -> None:
    top = json.loads(posdiag("decode", str(pulled), "--json").stdout.splitlines()[-1])["causes"][0]
    readings = {e["reading"]: e["value"] for e in top["evidence"]}
    assert "paper-end" in readings["printer.flags"] and readings["printer.raw"]
    assert "paper-end" in readings["paper.flags"]


def _sensed(fault: str) -> str:
    """The top cause the firmware finds for an injected fault (in-process)."""
    s = faults.scenario([fault])
    hw = Parts(
        parts.StepClock(),
        FileStorage(tempfile.mkdtemp(prefix="posdiag-reach-")),
        parts.MemoryDisplay(),
        printer=parts.MemoryPort(parts.EscPosEmulator(s.printer)),
        paper_end=Sensor(parts.VirtualPin(int(s.paper_end_pin))),
        near_end=Sensor(parts.VirtualPin(int(s.near_end_pin))),
        cover=Sensor(parts.VirtualPin(int(s.cover_pin))),
        head_adc=parts.VirtualAdc(*s.head),
        supply_adc=parts.VirtualAdc(*s.supply),
        probe=parts.VirtualHost(s.host),
    )
    import cbor2

    data = Terminal(config.load({"printer_supported": ["POSDIAG-EMU-80"]}), hw).boot()
    return cause_id(ranked_causes(cbor2.loads(data)[record.K_CHECKS])[0])


def _leaves(node: tuple) -> set[str]:
    return _leaves(node[2]) | _leaves(node[3]) if node[0] == "ask" else ({node[1]} if node[1] else set())


def test_every_catalogue_id_is_reached() -> None:
    reached = {fault for fault in faults.FAULTS if _sensed(fault) == fault}
    assert reached == set(faults.FAULTS)  # every sensed fault, found as the top cause
    reached |= _leaves(TREE)  # troubleshoot questions
    ok = [5, 0, 12, 350, 24000]
    dead = [[c.P_NO_REPLY, b"", 240], 0, 12, 350, 24000]
    history = [record.encode(record.build(i + 1, 1, 1, None, 0, ch)) for i, ch in enumerate([ok, dead, ok, dead])]
    reached |= {f.id for f in analyse(history, {"counters": [0, 0, 0]})}  # the log's history
    reached.add(policy_entry("on-request", "en")["id"])  # the receipt policy
    failed = record.encode(record.build(1, 1, 1, None, 0, ok, error=[c.CHECK_HEAD, 1]))
    reached.add(diagnose(failed)["causes"][0]["id"])  # a self-test that failed inside
    assert reached == set(CAUSE_IDS)


def test_rich_report_for_a_person_at_a_terminal(pulled: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:  # noqa: ANN001
    import sys

    from host_tools.records import PulledLog
    from host_tools.render import print_diagnosis

    log = PulledLog.load(str(pulled))
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    print_diagnosis(diagnose(log.records[-1], "en"), log.terminal, "en")
    out = capsys.readouterr().out
    assert "╭" in out and "Most likely cause: paper-out [consumables, fault]" in out
    assert "Evidence: printer.flags" in out and "1. " in out and "Checks" in out
