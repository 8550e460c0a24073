"""Process-wide settings for the service's long-running processes.

The pipeline works in batches: a batch of a few thousand posts lives for a few hundred
milliseconds as tens of thousands of small objects (payloads, rows, predictions). With
CPython's default thresholds (a young-generation collection every 700 allocations) those
objects are scanned again and again and promoted to the older generations, which are then
scanned in full: measured on the replay benchmark, about a sixth of the main process's CPU
time. Almost none of these objects form reference cycles (reference counting frees them), so
collecting less often changes what is freed only for the rare cycle, which waits a little
longer.
"""

from __future__ import annotations

import gc

# young-generation collection every 20,000 allocations; each older generation after 20 of
# the one below (CPython's defaults: 700, 10, 10)
GC_THRESHOLDS = (20_000, 20, 20)


def tune_garbage_collection(*, freeze: bool = False) -> None:
    """Collect less often (idempotent). ``freeze=True`` also moves every object alive now
    (modules, settings, a loaded classifier) out of the collector's scans for good: only for
    a process that has finished loading and runs the service until it exits."""
    if gc.get_threshold()[0] < GC_THRESHOLDS[0]:
        gc.set_threshold(*GC_THRESHOLDS)
    if freeze:
        gc.collect()
        gc.freeze()
