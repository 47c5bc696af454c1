"""Foley appliance: synchronized sound effects for short videos, offline on an ARM board.

numpy's OpenBLAS runs on one thread in every process of the appliance (unless the environment
says otherwise). Its matrices here are small (embedding lookups, the evaluation's mel spectra)
and the work is already spread over processes and threads — the web service, the scoring
worker, the camera daemon, ONNX Runtime's and the decoder's threads. With a pool of its own in
each process, OpenBLAS's threads wait for one another by spinning, and on an oversubscribed CPU
that wait is paid in time slices: two processes computing onset-detection spectra at once on
this 2-core machine, under load, took 9.9-10.2 s against 2.7-2.9 s with one thread each (alone:
2.2 and 2.0 s). It has to be set before numpy is first imported, so here.
"""
import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

__version__ = "0.1.0"
