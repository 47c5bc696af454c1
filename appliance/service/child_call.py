"""One function call in a short-lived child process, with a deadline that is kept.

The library's add runs in a child so that its memory (a 30 s sound peaks at ~150 MB) goes back
to the system when it ends. concurrent.futures' ProcessPoolExecutor gave the deadline to the
result only: when it passed, leaving the `with` block waited for the child to finish, so a
child that never did held its request thread (one of service.threads) for good. Here the child
is killed when the deadline passes, and its end is known at once if it dies (an OOM kill, a
crash): the caller gets ChildFailed, a 503 to try again, either way.
"""
from __future__ import annotations

import multiprocessing
from typing import Any, Callable


class ChildFailed(Exception):
    """The child died, or ran past its deadline and was killed, before it answered."""


def _child(sending, function: Callable, args: tuple, kwargs: dict) -> None:
    try:
        outcome = (True, function(*args, **kwargs))
    except BaseException as exc:  # the caller re-raises it; nothing in the child handles it
        outcome = (False, exc)
    sending.send(outcome)
    sending.close()


def call_in_child(function: Callable, *args, timeout: float, **kwargs) -> Any:
    """`function(*args, **kwargs)` in a spawned child: its value, or its exception raised here;
    ChildFailed when it dies or `timeout` seconds pass first (it is killed then). `function`,
    its arguments, value and exceptions must be picklable."""
    context = multiprocessing.get_context("spawn")
    receiving, sending = context.Pipe(duplex=False)
    child = context.Process(target=_child, args=(sending, function, args, kwargs), daemon=True)
    child.start()
    sending.close()  # only the child's end stays open: its death reads as end-of-file at once
    try:
        if not receiving.poll(timeout):
            raise ChildFailed(f"no answer within {timeout:g} s")
        try:
            ok, value = receiving.recv()
        except EOFError:
            raise ChildFailed("the child process ended without answering") from None
    finally:
        receiving.close()
        child.join(1)  # one that answered is exiting: let it
        if child.is_alive():
            child.kill()
            child.join()
    if ok:
        return value
    raise value
