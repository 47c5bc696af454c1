"""ONNX files written by the training code: the same fit gives the same bytes."""
from __future__ import annotations


def canonical_bytes(model) -> bytes:
    """`model` (an onnx ModelProto) serialised with its opset imports in domain order.

    skl2onnx lists the opsets a model imports in the order of a Python set, which changes with
    the interpreter's string hash seed: two runs of scripts/train_events.py on the same clips
    wrote the same trees into files that differed in that order, and so in their sha256 in the
    manifest. A rebuild that changes nothing should change no byte."""
    imports = sorted(model.opset_import, key=lambda entry: entry.domain)
    del model.opset_import[:]
    model.opset_import.extend(imports)
    return model.SerializeToString()
