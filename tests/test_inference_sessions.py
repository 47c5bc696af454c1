"""Sessions compute INT8 matrix products exactly on every CPU.

ONNX Runtime's x86-64 U8S8 kernels for CPUs without VNNI (SSE4.1, AVX2, AVX-512 without VNNI)
add pairs of uint8 x int8 products into a saturating int16; on such a CPU the shipped encoders
drifted below their reference thresholds (appliance/inference/sessions.py, EXACT_INT8). A tiny
MatMulInteger whose every pair overflows int16 (2 x 255 x 127 = 64770) tells exact sums from
saturated ones: on an AVX2-only CPU without the session entry it gives 32 x 32767 = 1048544
instead of 2072640. On CPUs with VNNI and on aarch64 it is exact either way.
"""
from __future__ import annotations

import numpy as np
import pytest

from appliance.inference.int8_check import EXACT_SUM, K, N, saturating_matmul_model
from appliance.inference.sessions import (EXACT_INT8, create_session, int8_products_saturate, saturating_product,
                                          session_options)
from appliance.inference.sessions import ort  # imported there, after its telemetry is turned off


def test_exact_int8_is_asked_for_exactly_where_the_kernels_saturate():
    """The probe's verdict is the kernels' own: without the entry a saturating CPU clamps the
    product, and the entry is then in every session's options; where sums are exact (VNNI,
    aarch64) it is left out, since ORT would switch to slower kernels for the same outputs."""
    assert EXACT_INT8 == ("session.x64quantprecision", "1")
    plain = ort.SessionOptions()
    saturates = not (saturating_product(plain) == EXACT_SUM).all()
    assert int8_products_saturate() == saturates
    for custom_ops in (False, True):
        options = session_options(1, custom_ops=custom_ops)
        if saturates:
            assert options.get_session_config_entry(EXACT_INT8[0]) == EXACT_INT8[1]
        else:
            with pytest.raises(RuntimeError, match="does not have configuration"):
                options.get_session_config_entry(EXACT_INT8[0])


def test_a_saturating_cpu_gets_the_exact_entry(monkeypatch):
    """The branch this CPU may not take (an AVX2-only x86-64 takes it)."""
    monkeypatch.setattr("appliance.inference.sessions.int8_products_saturate", lambda: True)
    assert session_options(1).get_session_config_entry(EXACT_INT8[0]) == EXACT_INT8[1]


def test_the_exact_entry_makes_the_probe_exact():
    options = ort.SessionOptions()
    options.add_session_config_entry(*EXACT_INT8)
    assert (saturating_product(options) == EXACT_SUM).all()


def test_int8_products_do_not_saturate(tmp_path):
    path = tmp_path / "saturation.onnx"
    path.write_bytes(saturating_matmul_model())
    session = create_session(path, threads=1)
    (y,) = session.run(["Y"], {"A": np.full((1, K), 255, np.uint8)})
    assert y.dtype == np.int32 and y.shape == (1, N)
    assert (y == EXACT_SUM).all(), f"{int(y[0, 0])} instead of {EXACT_SUM}: int16 saturation"


def test_foley_threads_must_be_a_count(monkeypatch):
    """$FOLEY_THREADS=four was a bare ValueError traceback."""
    from appliance.errors import UsageError
    from appliance.inference.sessions import default_threads

    monkeypatch.setenv("FOLEY_THREADS", "3")
    assert default_threads() == 3
    for bad in ("four", "0", "-2", "1.5", "100"):
        monkeypatch.setenv("FOLEY_THREADS", bad)
        with pytest.raises(UsageError, match="FOLEY_THREADS must be a whole number from 1 to 64"):
            default_threads()
