"""A model that tells whether this CPU's INT8 matrix kernels saturate (sessions.py runs it once).

ONNX Runtime's x86-64 U8S8 kernels for CPUs without VNNI (SSE4.1, AVX2, AVX-512 without VNNI)
add each pair of uint8 x int8 products into a saturating int16 (vpmaddubsw); VNNI (vpdpbusd) and
aarch64 sum in int32, exactly. The cure, `session.x64quantprecision=1` (sessions.EXACT_INT8),
runs ORT's U8U8 kernels instead, and ORT applies it on every x86 CPU that asks, VNNI or not:
on a VNNI CPU that made the vision encoder 2.4x slower for bit-identical outputs
(docs/models.md). So the question is put to the kernels themselves rather than to CPU flags: a
tiny MatMulInteger whose every pair overflows int16 (2 x 255 x 127 = 64770) gives 2072640 where
sums are exact and 32 x 32767 = 1048544 where they saturate.

The model is written as protobuf bytes here, so the runtime needs no `onnx` package (and this
module does not import onnxruntime: sessions.py sets its environment first).
"""
from __future__ import annotations

import struct

K, N = 64, 8
"""The probe's product: a [1, K] row of 255s times a [K, N] matrix of 127s."""
EXACT_SUM = 255 * 127 * K
"""Each of the product's N values where sums are exact."""


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
    """ONNX ModelProto bytes: Y[1,N] int32 = MatMulInteger(A[1,K] uint8, B[K,N] int8 initializer
    with every weight 127, zero points 0 given explicitly as the quantizer writes them;
    onnxruntime 1.20's weight transformer crashes without them)."""
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
