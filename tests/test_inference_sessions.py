"""Sessions compute INT8 matrix products exactly on every CPU.

ONNX Runtime's x86-64 U8S8 kernels for CPUs without VNNI (SSE4.1, AVX2, AVX-512 without VNNI)
add pairs of uint8 x int8 products into a saturating int16; on such a CPU the shipped encoders
drifted below their reference thresholds (appliance/inference/sessions.py, EXACT_INT8). A tiny
MatMulInteger whose every pair overflows int16 (2 x 255 x 127 = 64770) tells exact sums from
saturated ones: on an AVX2-only CPU without the session entry it gives 32 x 32767 = 1048544
instead of 2072640. On CPUs with VNNI and on aarch64 it is exact either way.
"""
from __future__ import annotations

import struct

import numpy as np

from appliance.inference.sessions import EXACT_INT8, create_session, session_options

K, N = 64, 8


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _field(number: int, value) -> bytes:
    """One protobuf field: an int as a varint, bytes/str as length-delimited."""
    if isinstance(value, int):
        return _varint(number << 3) + _varint(value)
    data = value.encode() if isinstance(value, str) else value
    return _varint(number << 3 | 2) + _varint(len(data)) + data


def _value_info(name: str, elem_type: int, shape: tuple[int, ...]) -> bytes:
    dims = b"".join(_field(1, _field(1, d)) for d in shape)  # TensorShapeProto.dim.dim_value
    tensor_type = _field(1, elem_type) + _field(2, dims)  # TypeProto.Tensor
    return _field(1, name) + _field(2, _field(1, tensor_type))  # ValueInfoProto


def _initializer(name: str, data_type: int, dims: tuple[int, ...], raw: bytes) -> bytes:
    return b"".join(_field(1, d) for d in dims) + _field(2, data_type) + _field(8, name) + _field(9, raw)


def saturating_matmul_model() -> bytes:
    """ONNX ModelProto bytes (no onnx package needed): Y[1,N] int32 = MatMulInteger(A[1,K] uint8,
    B[K,N] int8 initializer with every weight 127, zero points 0 given explicitly as the
    quantizer writes them; onnxruntime 1.20's weight transformer crashes without them)."""
    uint8, int8, int32 = 2, 3, 6  # TensorProto.DataType
    initializers = (_field(5, _initializer("B", int8, (K, N), struct.pack(f"{K * N}b", *[127] * (K * N))))
                    + _field(5, _initializer("A_zero", uint8, (), b"\x00"))
                    + _field(5, _initializer("B_zero", int8, (), b"\x00")))
    node = (b"".join(_field(1, name) for name in ("A", "B", "A_zero", "B_zero"))
            + _field(2, "Y") + _field(4, "MatMulInteger"))
    graph = (_field(1, node) + _field(2, "saturation") + initializers
             + _field(11, _value_info("A", uint8, (1, K))) + _field(12, _value_info("Y", int32, (1, N))))
    opset = _field(1, "") + _field(2, 13)
    return _field(1, 8) + _field(7, graph) + _field(8, opset)  # ir_version 8, graph, opset_import


def test_session_options_ask_for_exact_int8_products():
    assert EXACT_INT8 == ("session.x64quantprecision", "1")
    for custom_ops in (False, True):
        options = session_options(1, custom_ops=custom_ops)
        assert options.get_session_config_entry(EXACT_INT8[0]) == EXACT_INT8[1]


def test_int8_products_do_not_saturate(tmp_path):
    path = tmp_path / "saturation.onnx"
    path.write_bytes(saturating_matmul_model())
    session = create_session(path, threads=1)
    (y,) = session.run(["Y"], {"A": np.full((1, K), 255, np.uint8)})
    assert y.dtype == np.int32 and y.shape == (1, N)
    assert (y == 255 * 127 * K).all(), f"{int(y[0, 0])} instead of {255 * 127 * K}: int16 saturation"


def test_foley_threads_must_be_a_count(monkeypatch):
    """$FOLEY_THREADS=four was a bare ValueError traceback."""
    import pytest

    from appliance.errors import UsageError
    from appliance.inference.sessions import default_threads

    monkeypatch.setenv("FOLEY_THREADS", "3")
    assert default_threads() == 3
    for bad in ("four", "0", "-2", "1.5", "100"):
        monkeypatch.setenv("FOLEY_THREADS", bad)
        with pytest.raises(UsageError, match="FOLEY_THREADS must be a whole number from 1 to 64"):
            default_threads()
