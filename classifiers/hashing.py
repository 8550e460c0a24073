"""Feature hashing and row normalisation without importing scikit-learn.

The model is trained with scikit-learn (``FeatureHasher`` columns, ``normalize(norm="l2")``), but
importing it costs about a second of CPU in every process that only predicts: each service worker,
the classifier's worker process, the console. These two functions give the same results bit for
bit (tested against scikit-learn), so the inference path imports numpy and scipy only.

The hash runs once per token a process has not met yet (every new word bigram); the
``murmurhash`` package that spaCy depends on computes it in C, about 40 times faster than the
Python version below, which stays as the reference and the fallback.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import scipy.sparse as sp

_MASK = 0xFFFFFFFF
_C1, _C2 = 0xCC9E2D51, 0x1B873593


def murmurhash3_32_py(key: str) -> int:
    """MurmurHash3 (x86, 32-bit, seed 0) of the UTF-8 bytes of ``key``, as a signed int: what
    ``sklearn.utils.murmurhash3_32(key, seed=0, positive=False)`` returns."""
    data = key.encode("utf-8")
    n = len(data)
    h = 0
    end = n - (n & 3)
    for i in range(0, end, 4):
        k = data[i] | data[i + 1] << 8 | data[i + 2] << 16 | data[i + 3] << 24
        k = (k * _C1) & _MASK
        k = ((k << 15) | (k >> 17)) & _MASK
        k = (k * _C2) & _MASK
        h ^= k
        h = ((h << 13) | (h >> 19)) & _MASK
        h = (h * 5 + 0xE6546B64) & _MASK
    tail = n & 3
    if tail:
        k = data[end]
        if tail >= 2:
            k ^= data[end + 1] << 8
        if tail == 3:
            k ^= data[end + 2] << 16
        k = (k * _C1) & _MASK
        k = ((k << 15) | (k >> 17)) & _MASK
        k = (k * _C2) & _MASK
        h ^= k
    h ^= n
    h ^= h >> 16
    h = (h * 0x85EBCA6B) & _MASK
    h ^= h >> 13
    h = (h * 0xC2B2AE35) & _MASK
    h ^= h >> 16
    return h - 0x100000000 if h & 0x80000000 else h


try:  # spaCy's MurmurHash3_x86_32 of the UTF-8 bytes, seed 0, signed: the same function in C
    from murmurhash.mrmr import hash as _c_hash
except ImportError:  # pragma: no cover - spaCy requires it
    murmurhash3_32: Callable[[str], int] = murmurhash3_32_py
else:
    murmurhash3_32 = _c_hash


def l2_normalize_rows(X: sp.csr_matrix) -> sp.csr_matrix:
    """Scale each row of a float32 CSR matrix to unit L2 norm, in place, as scikit-learn's
    ``normalize(X, norm="l2", copy=False)`` does: squares in float32, summed in double, each
    value divided by the double square root and stored as float32; empty rows stay empty."""
    data = X.data
    if data.size == 0:
        return X
    indptr = X.indptr
    lengths = np.diff(indptr)
    full = lengths > 0
    sums = np.zeros(X.shape[0])
    sums[full] = np.add.reduceat((data * data).astype(np.float64), indptr[:-1][full])
    norms = np.sqrt(sums)
    norms[norms == 0.0] = 1.0
    X.data = (data / np.repeat(norms, lengths)).astype(np.float32)
    return X
