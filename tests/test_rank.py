"""Root-cause ranking rules (posdiag.rank), shared by terminal and host."""

from __future__ import annotations

from host_tools.catalog_names import cause_id
from posdiag import catalog as c
from posdiag.rank import causes

OK_PRINTER = [0, b"\x16\x12\x12\x12", 5]


def ids(checks: list) -> list[str]:
    return [cause_id(code) for code in causes(checks)]


def test_healthy_has_no_cause() -> None:
    assert causes([OK_PRINTER, 0, 12]) == []


def test_checks_not_run_are_not_faults() -> None:
    assert causes([None, None, None]) == []


def test_cover_open_explains_the_printers_paper_end_bit() -> None:
    printer = [c.P_OFFLINE | c.P_COVER | c.P_PAPER_END, b"", 5]
    assert ids([printer, c.S_COVER, 12]) == ["cover-open"]


def test_cover_open_with_sensor_paper_end_keeps_both_cover_first() -> None:
    printer = [c.P_OFFLINE | c.P_COVER | c.P_PAPER_END, b"", 5]
    assert ids([printer, c.S_COVER | c.S_PAPER_END, 12]) == ["cover-open", "paper-out"]


def test_paper_out_hides_near_end_and_offline() -> None:
    printer = [c.P_OFFLINE | c.P_PAPER_END | c.P_NEAR_END, b"", 5]
    assert ids([printer, c.S_PAPER_END | c.S_NEAR_END, 12]) == ["paper-out"]


def test_no_reply_hides_everything_the_printer_cannot_say() -> None:
    assert ids([[c.P_NO_REPLY | c.P_OFFLINE, b"", 300], 0, 12]) == ["printer-no-response"]


def test_dead_host_never_blames_the_printer() -> None:
    assert ids([OK_PRINTER, 0, [c.H_REFUSED, None]]) == ["host-unreachable"]


def test_printer_fault_ranks_before_network() -> None:
    printer = [c.P_OFFLINE | c.P_CUTTER, b"", 5]
    assert ids([printer, 0, [c.H_TIMEOUT, None]]) == ["cutter-jam", "host-unreachable"]


def test_head_fault_before_cover_and_warnings_last() -> None:
    printer = [c.P_OFFLINE | c.P_UNRECOVERABLE | c.P_COVER | c.P_NEAR_END, b"", 5]
    assert ids([printer, 0, [c.H_SLOW, 900]]) == [
        "head-fault",
        "cover-open",
        "paper-near-end",
        "host-slow",
    ]


def test_offline_alone_is_busy_offline() -> None:
    assert ids([[c.P_OFFLINE | c.P_FEED, b"", 5], 0, 12]) == ["printer-busy-offline"]


def test_garbled_link() -> None:
    assert ids([[c.P_GARBLED, b"", 300], 0, 12]) == ["link-garbled"]


def test_printer_stopped_at_near_end_is_near_end_not_paused() -> None:
    # Printers set (ESC c 4) to stop at near end report offline + near end.
    assert ids([[c.P_OFFLINE | c.P_NEAR_END, b"", 5], c.S_NEAR_END, 12]) == ["paper-near-end"]


def test_feed_button_is_busy_even_with_near_end() -> None:
    assert ids([[c.P_OFFLINE | c.P_FEED | c.P_NEAR_END, b"", 5], 0, 12]) == [
        "printer-busy-offline",
        "paper-near-end",
    ]


def test_the_hosts_cached_ranking_is_the_firmwares() -> None:
    """host_tools.diagnosis.ranked_causes caches by flags; it must rank every
    stored form exactly as posdiag.rank does."""
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from host_tools.diagnosis import ranked_causes

    def check(flags_max: int, healthy: st.SearchStrategy) -> st.SearchStrategy:
        return st.none() | healthy | st.builds(lambda f, m: [f, m], st.integers(0, flags_max), st.integers(0, 999))

    record_checks = st.tuples(
        check(0x1FFF, st.integers(0, 300)),
        st.none() | st.integers(0, 15),
        check(0x3F, st.integers(0, 900)),
        check(7, st.integers(-200, 1200)),
        check(0x1F, st.integers(0, 30000)),
    ).map(list)

    @settings(max_examples=500, deadline=None)
    @given(record_checks)
    def same(checks: list) -> None:
        assert list(ranked_causes(checks)) == causes(checks)

    same()
