"""ONNX Runtime session creation with the thread settings measured to work on small boards.

Thread counts are always explicit: ORT's default (one thread per core, spinning) fights with
the decoder and the web server for the Pi's four cores. With two or more intra-op threads,
spinning is turned off: on a shared CPU spinning threads were measured slower (DESIGN.md).

INT8 products are computed exactly on every CPU (EXACT_INT8, below), so an embedding does not
depend on which x86-64 machine computed it.
"""
from __future__ import annotations

import functools
import importlib.machinery
import importlib.util
import os
from pathlib import Path

import numpy as np

# ONNX Runtime's official Linux builds (1.2x+) start a telemetry queue when imported, writing
# ~/.cache/Microsoft/DeveloperTools/.onnxruntime/ (a device id and an SQLite event store) and
# trying to upload it. The appliance writes nothing outside its state folder and sends nothing:
# the variable must be set before the import (disable_telemetry_events() alone leaves the files).
os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
import onnxruntime as ort  # noqa: E402

from appliance.inference.int8_check import EXACT_SUM, K, saturating_matmul_model  # noqa: E402

ort.disable_telemetry_events()

# ONNX Runtime's x86-64 U8S8 integer kernels for CPUs without VNNI (SSE4.1, AVX2, AVX-512 without
# VNNI) add each pair of uint8 x int8 products into a saturating int16 (vpmaddubsw): up to
# 2 x 255 x 127 = 64770 is clamped to 32767. Both encoders hit that (dynamic MatMulInteger in
# the text encoder, QLinearConv in the vision encoder): on an AVX2-only x86-64 CPU, text cosine
# to FP32 torch fell from 0.989 to 0.976 and one reference photo's embedding from 0.988 to 0.941,
# with onnxruntime 1.31.1 and 1.32.0 alike (the export machine had AVX-512 VNNI, exact int32
# sums). With this entry ORT's Avx2WeightS8ToU8Transformer stores the int8 weights as uint8
# (w + 128, zero point moved with them: the same products) and runs the U8U8 kernels, which do
# not saturate; the outputs then equal the manifest's figures. ORT applies it on any x86 CPU that
# asks, VNNI or not, and it costs speed (vision 2.4x slower on a VNNI CPU for bit-identical
# outputs), so it is asked for only where a probe product saturates (int8_check.py). On aarch64
# (the board) it is compiled out. It is a level-2 graph transformer: it needs the graph
# optimisation that session_options() turns on.
EXACT_INT8 = ("session.x64quantprecision", "1")


def saturating_product(options: ort.SessionOptions) -> np.ndarray:
    """int8_check's probe product, [1, N] int32, in a session made with `options`."""
    session = ort.InferenceSession(saturating_matmul_model(), sess_options=options,
                                   providers=["CPUExecutionProvider"])
    (y,) = session.run(["Y"], {"A": np.full((1, K), 255, np.uint8)})
    return y


@functools.cache
def int8_products_saturate() -> bool:
    """True when this CPU's default INT8 kernels clamp pair sums (x86-64 without VNNI)."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL  # as the encoders'
    options.log_severity_level = 3
    return not bool((saturating_product(options) == EXACT_SUM).all())


def default_threads() -> int:
    """$FOLEY_THREADS if set, else the number of cores up to 4 (a Pi has 4)."""
    env = os.environ.get("FOLEY_THREADS")
    if env:
        if not env.strip().isdigit() or not 1 <= int(env) <= 64:
            from appliance.errors import UsageError

            raise UsageError(f"FOLEY_THREADS must be a whole number from 1 to 64, not {env!r}")
        return int(env)
    return max(1, min(4, os.cpu_count() or 1))


def session_options(threads: int, custom_ops: bool = False) -> ort.SessionOptions:
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.add_session_config_entry("session.intra_op.allow_spinning", "0" if threads > 1 else "1")
    if int8_products_saturate():
        options.add_session_config_entry(*EXACT_INT8)
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


def create_session(model: Path | bytes, threads: int, custom_ops: bool = False) -> ort.InferenceSession:
    """A session on a model file, or on a model's bytes (one fitted in memory, never written)."""
    return ort.InferenceSession(
        model if isinstance(model, bytes) else str(model), sess_options=session_options(threads, custom_ops),
        providers=["CPUExecutionProvider"]
    )
