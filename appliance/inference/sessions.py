"""ONNX Runtime session creation with the thread settings measured to work on small boards.

Thread counts are always explicit: ORT's default (one thread per core, spinning) fights with
the decoder and the web server for the Pi's four cores. With two or more intra-op threads,
spinning is turned off: on a shared CPU spinning threads were measured slower (DESIGN.md).
"""
from __future__ import annotations

import importlib.machinery
import importlib.util
import mmap
import os
from pathlib import Path

import onnxruntime as ort


def default_threads() -> int:
    """$FOLEY_THREADS if set, else the number of cores up to 4 (a Pi has 4)."""
    env = os.environ.get("FOLEY_THREADS")
    if env:
        return max(1, int(env))
    return max(1, min(4, os.cpu_count() or 1))


def session_options(threads: int, custom_ops: bool = False) -> ort.SessionOptions:
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.add_session_config_entry("session.intra_op.allow_spinning", "0" if threads > 1 else "1")
    options.log_severity_level = 3  # warnings from the optimiser are noise on the journal
    if custom_ops:
        options.register_custom_ops_library(str(extensions_library()))
    return options


def extensions_library() -> Path:
    """The onnxruntime-extensions operator library (the in-graph tokenizer's operators).

    Found without importing the `onnxruntime_extensions` package: its __init__ pulls in onnx,
    and torch + transformers when they are installed — measured +238 MB of RSS for a path."""
    spec = importlib.util.find_spec("onnxruntime_extensions")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("onnxruntime-extensions is not installed (pip install onnxruntime-extensions)")
    for folder in spec.submodule_search_locations:
        for suffix in importlib.machinery.EXTENSION_SUFFIXES:
            candidate = Path(folder) / f"_extensions_pydll{suffix}"
            if candidate.is_file():
                return candidate
    raise ModuleNotFoundError("onnxruntime-extensions has no operator library for this Python")


def create_session(path: Path, threads: int, custom_ops: bool = False) -> ort.InferenceSession:
    model = portable_qdq_adds(Path(path))
    return ort.InferenceSession(
        model if model is not None else str(path),
        sess_options=session_options(threads, custom_ops),
        providers=["CPUExecutionProvider"],
    )


def portable_qdq_adds(path: Path) -> bytes | None:
    """The model's bytes with every QDQ residual Add (DequantizeLinear x2 -> Add -> QuantizeLinear)
    renamed Sum, or None when the model has none (then the file is loaded as is).

    Why: ORT fuses DQ->Add->Q into QLinearAdd, whose MLAS kernel rounds differently per ISA
    (x86: float with the zero points folded into one constant; aarch64 NEON: 22-bit fixed-point
    multipliers), so values at x.5 ties land on different uint8 steps and the difference grows
    through the following layers (EfficientNet-Lite0 vision encoder: cosine 0.99975 x86 vs
    aarch64). Sum (same maths as Add for two same-shaped inputs) has no QDQ fusion: the DQ, float
    add and Q run as plain IEEE float ops, identical on both ISAs, while the convolutions stay fused
    (QLinearConv is bit-exact across ISAs). Measured: x86 vs aarch64 cosine 1 - 2e-15, latency
    +1 %. The file is not changed: the rename is done in memory, same length, on the op_type
    field of the top-level graph's nodes only (a minimal protobuf walk, no onnx dependency).
    """
    with open(path, "rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as data:
        patches = [start for start, end in _qdq_add_op_types(data)]  # mapped: no copy of a model left as is
        if not patches:
            return None
        patched = bytearray(data)
    for start in patches:
        patched[start : start + 3] = b"Sum"
    return bytes(patched)


def _fields(data, start: int, end: int):
    """(field number, wire type, value start, value end) of each protobuf field in data[start:end]."""

    def varint(pos):
        result = shift = 0
        while True:
            byte = data[pos]
            result |= (byte & 0x7F) << shift
            pos += 1
            if byte < 0x80:
                return result, pos
            shift += 7

    pos = start
    while pos < end:
        key, pos = varint(pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            _, after = varint(pos)
        elif wire == 1:
            after = pos + 8
        elif wire == 2:
            length, pos = varint(pos)
            after = pos + length
        elif wire == 5:
            after = pos + 4
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")
        yield number, wire, pos, after
        pos = after


def _qdq_add_op_types(data) -> list[tuple[int, int]]:
    """Byte ranges of the op_type "Add" of top-level nodes whose inputs all come from
    DequantizeLinear and whose output only feeds QuantizeLinear (ModelProto.graph = 7,
    GraphProto.node = 1, NodeProto input = 1, output = 2, op_type = 4, domain = 7)."""
    nodes = []
    for number, wire, start, end in _fields(data, 0, len(data)):
        if number == 7 and wire == 2:
            for n, w, s, e in _fields(data, start, end):
                if n == 1 and w == 2:
                    node = {"in": [], "out": [], "op": None, "domain": b""}
                    for fn, fw, fs, fe in _fields(data, s, e):
                        if fn == 1 and fw == 2:
                            node["in"].append(bytes(data[fs:fe]))
                        elif fn == 2 and fw == 2:
                            node["out"].append(bytes(data[fs:fe]))
                        elif fn == 4 and fw == 2:
                            node["op"] = (bytes(data[fs:fe]), fs, fe)
                        elif fn == 7 and fw == 2:
                            node["domain"] = bytes(data[fs:fe])
                    nodes.append(node)
    producer = {out: node["op"][0] for node in nodes if node["op"] for out in node["out"]}
    consumers: dict[bytes, list[bytes]] = {}
    for node in nodes:
        for name in node["in"]:
            consumers.setdefault(name, []).append(node["op"][0] if node["op"] else b"")
    ranges = []
    for node in nodes:
        if not node["op"] or node["op"][0] != b"Add" or node["domain"] not in (b"", b"ai.onnx"):
            continue
        if len(node["in"]) != 2 or len(node["out"]) != 1:
            continue
        if all(producer.get(name) == b"DequantizeLinear" for name in node["in"]) and consumers.get(
            node["out"][0]
        ) and all(op == b"QuantizeLinear" for op in consumers[node["out"][0]]):
            ranges.append(node["op"][1:])
    return ranges
