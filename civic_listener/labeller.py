"""Labelling beside storing: the classifier runs in a process of its own while the service's
main process stores posts and labels and runs the acting hooks.

The pipeline hands a batch of texts to a :class:`Labeller` and gets a future back; it stores
the previous batch's labels while this one is computed (two cores: one classifies, one
stores). Nothing here touches the database: what is in flight is only read, so a crash
loses nothing (the posts are still pending and the next run labels them).

* :class:`ProcessLabeller`: one worker process that loads the classifier once (from a
  picklable loader, e.g. :func:`civic_listener.wiring.classifier_loader`) and predicts every
  batch it is given; the service uses it when ``classifier_jobs`` is 2 or more.
* :class:`ThreadLabeller`: the same contract in a thread of this process, for a classifier
  that cannot be loaded in another process (one passed in by a caller or a test).

If the worker process dies, :meth:`ProcessLabeller.submit` futures fail with
``BrokenProcessPool``; the pipeline then labels that batch in its own process and starts a
new worker for the next one.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from typing import Any, Protocol

from civic_listener.runtime import tune_garbage_collection
from classifiers.api import Classifier, Prediction

log = logging.getLogger(__name__)


# the predictions of a batch and the seconds the labeller spent on them
Labelled = tuple[list[Prediction], float]


class Labeller(Protocol):
    """Predicts batches away from the caller's thread: ``submit`` returns at once."""

    def submit(self, texts: Sequence[str]) -> Future[Labelled]: ...

    def close(self) -> None: ...


_WORKER: Classifier | None = None


def _load(loader: Callable[[], Classifier]) -> None:
    global _WORKER
    _WORKER = loader()
    tune_garbage_collection(freeze=True)  # this process only labels, until the service stops


def _predict(texts: list[str]) -> Labelled:
    assert _WORKER is not None, "the labeller's worker has no classifier"
    return timed_predict(_WORKER, texts)


def timed_predict(classifier: Classifier, texts: Sequence[str]) -> Labelled:
    started = time.perf_counter()
    predictions = classifier.predict(texts)
    return predictions, time.perf_counter() - started


def _ready() -> bool:
    return _WORKER is not None


class ProcessLabeller:
    """One worker process (spawned, so it shares nothing with this one) that loads the
    classifier with ``loader`` and predicts the batches submitted, one at a time, in order."""

    def __init__(self, loader: Callable[[], Classifier]) -> None:
        self.loader = loader
        self._pool: ProcessPoolExecutor | None = None
        self._lock = threading.Lock()

    def _executor(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._pool is None:
                self._pool = ProcessPoolExecutor(
                    max_workers=1,
                    mp_context=mp.get_context("spawn"),
                    initializer=_load,
                    initargs=(self.loader,),
                )
            return self._pool

    def start(self) -> None:
        """Start the worker and wait until its classifier is loaded (a one-off cost)."""
        self._executor().submit(_ready).result()

    def submit(self, texts: Sequence[str]) -> Future[Labelled]:
        return self._executor().submit(_predict, [t if isinstance(t, str) else "" for t in texts])

    def restart(self) -> None:
        """Drop a broken worker; the next ``submit`` starts a new one."""
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)

    def close(self) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)


class ThreadLabeller:
    """:class:`Labeller` over a classifier of this process, in one background thread."""

    def __init__(self, classifier: Classifier) -> None:
        self.classifier = classifier
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="labeller")

    def submit(self, texts: Sequence[str]) -> Future[Labelled]:
        return self._pool.submit(timed_predict, self.classifier, list(texts))

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


def restart_after_failure(labeller: Any) -> None:
    """After a failed batch: give a process labeller a fresh worker (others need nothing)."""
    restart = getattr(labeller, "restart", None)
    if callable(restart):
        restart()
