"""`foley bench live --page`'s arithmetic: the page's timings brought to the monotonic clock and
matched to the known contacts. (The run itself — foley capture, foley serve and Chromium — takes
over a minute with its lead, so the page path in Chromium is covered by
tests/test_service_browser.py -k live_switch; the figures over ≥ 100 events are in
docs/benchmarks.md.)"""
from pathlib import Path

import pytest

from appliance.bench.live import FPS
from appliance.bench.live_page import FrameClock, Performance, page_figures


def test_page_timings_are_mapped_to_the_monotonic_clock_and_matched_to_contacts():
    lead = 30
    show = Performance(Path("performance.mp4"), lead, lead + 300, contacts=[2.0, 4.0, 6.0, 10.0],
                       scenes=[("drops", 1.0, 8.0), ("stick", 8.0, 11.0)])
    clock = FrameClock(Path("unused.sock"))
    zero = 500.0  # the monotonic time of the file's time 0
    clock.first_seen = zero + lead / FPS
    clock.stamps = [zero + i / FPS + 0.001 for i in range(lead, lead + 300, 10)]
    page_offset = 1_700_000_000.0 - 123.0  # page clock (epoch ms / 1000) minus monotonic
    origin = 1_700_000_000_000.0 - 400_000.0  # performance.timeOrigin

    def page_ms(monotonic: float) -> float:  # performance.now() at that monotonic time
        return (monotonic + page_offset) * 1000 - origin

    played = []
    for placed in (2.0, 4.05, 9.0):  # two contacts found (one placed 50 ms late), one extra; 6.0 and 10.0 missed
        captured = zero + placed
        sent, received, started = captured + 0.070, captured + 0.071, captured + 0.073
        played.append({"captured_at": captured, "sent_at": sent, "received": page_ms(received),
                       "started": page_ms(started), "device_ms": 42.0, "transit_ms": 1.0})
    report = page_figures(show, clock, {"origin": origin, "played": played, "missed": 0, "late": 1},
                          (page_offset, 0.001), (page_offset, 0.002))
    assert report["skipped_late"] == 1
    assert report["latency_from_placed_frame_ms"] == {"count": 3, "p50": 115.0, "p95": 115.0, "max": 115.0}
    assert report["parts_ms"]["frame_to_event_sent"]["p50"] == pytest.approx(70.0)
    assert report["parts_ms"]["transit"]["p50"] == pytest.approx(1.0)
    assert report["parts_ms"]["message_to_start"]["p50"] == pytest.approx(2.0)
    assert report["latency_from_contact_ms"]["count"] == 2
    assert report["latency_from_contact_ms"]["max"] == pytest.approx(165.0, abs=0.1)  # placed at 4.05 s: the contact at 4.0
    assert (report["contacts"], report["sounded_for_a_contact"], report["missed"], report["extra"]) == (4, 2, 2, 1)
    assert report["scenes"] == [{"scene": "drops", "contacts": 3, "missed": 1, "extra": 0},
                                {"scene": "stick", "contacts": 1, "missed": 1, "extra": 1}]
    assert report["frame_time_error_ms"]["max"] == pytest.approx(1.0, abs=0.01)
    assert report["clock"] == {"offset_error_bound_ms": 2.0, "drift_ms": 0.0}
