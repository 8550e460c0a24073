"""The inference path's hashing and normalisation equal scikit-learn's, bit for bit."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.preprocessing import normalize
from sklearn.utils import murmurhash3_32 as sk_murmur

from classifiers.hashing import l2_normalize_rows, murmurhash3_32, murmurhash3_32_py


@settings(max_examples=2000, deadline=None)
@given(st.text(max_size=40))
def test_murmurhash_equals_scikit_learn(token: str) -> None:
    try:
        expected = sk_murmur(token, seed=0, positive=False)
    except UnicodeEncodeError:  # lone surrogates: not text a post can carry
        return
    assert murmurhash3_32(token) == expected
    assert murmurhash3_32_py(token) == expected


def test_murmurhash_known_tails() -> None:
    for token in ["", "a", "ab", "abc", "abcd", "abcde", "pothole", "中文", "😀x"]:
        expected = sk_murmur(token, seed=0, positive=False)
        assert murmurhash3_32(token) == murmurhash3_32_py(token) == expected


def test_l2_rows_equal_scikit_learn_bit_for_bit() -> None:
    rng = np.random.default_rng(0)
    X = sp.random(500, 4096, density=0.02, format="csr", random_state=1, dtype=np.float32)
    X.data = (rng.integers(-3, 4, X.nnz) * rng.choice([0.5, 1.0, 2.0], X.nnz)).astype(np.float32)
    X.data[X.data == 0] = 1.0
    X = sp.csr_matrix(sp.vstack([X, sp.csr_matrix((3, 4096), dtype=np.float32)]))  # empty rows
    ref = normalize(X.copy(), norm="l2", copy=False)
    mine = l2_normalize_rows(X.copy())
    assert mine.dtype == np.float32
    assert np.array_equal(mine.indptr, ref.indptr) and np.array_equal(mine.indices, ref.indices)
    assert np.array_equal(mine.data.view(np.int32), ref.data.view(np.int32))


def test_predicting_never_imports_scikit_learn() -> None:
    code = (
        "import sys; from classifiers import load_classifier; "
        "load_classifier(jobs=1).predict(['pothole on Elm St', 'gas smell']); "
        "print(any(m == 'sklearn' or m.startswith('sklearn.') for m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
