"""Text normalisation before embedding (learned boilerplate prefixes), and the TF-IDF vectoriser the
routers' text readers store and rebuild (``tfidf_vectorizer``).

Logged prompts often start with the same long few-shot block for every query of a task
(RouterBench's 5-shot prompts share 1,200-1,650 characters). A sentence encoder that
truncates at 256 word pieces then sees the same text for every query of the task, and the
query-query neighbours become meaningless. We learn, per task, the prefix every query of the
task shares, and strip any learned prefix from a query before it is embedded.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterable, Sequence

__all__ = ["learn_prefixes", "strip_prefixes", "valid_unicode", "tfidf_vectorizer", "TfidfRows"]

MIN_PREFIX_CHARS = 64  # shorter shared prefixes ("Question: ") carry little and cost nothing
MIN_QUERIES = 5  # a prefix shared by 2 queries is a coincidence, not boilerplate


def valid_unicode(text: str) -> str:
    """``text`` with lone surrogates (e.g. from a JSON "\\ud800" escape) replaced by U+FFFD.

    Python strings may hold them, but no UTF-8 consumer takes them: the Rust tokenizers raise a bare
    TypeError and pyarrow-backed pandas strings a UnicodeEncodeError. A surrogate pair written as two
    escapes is joined into its character. Valid text is returned as it is.
    """
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


def learn_prefixes(groups: Iterable[Sequence[str]], min_chars: int = MIN_PREFIX_CHARS,
                   min_queries: int = MIN_QUERIES) -> list[str]:
    """Return the boilerplate prefix of each group of texts (one group per task), longest first.

    The prefix is cut back to its last line break (or, in one-line text, its last space) so that a query starting in the
    middle of a shared word keeps that word.
    """
    prefixes: set[str] = set()
    for texts in groups:
        texts = list(dict.fromkeys(texts))  # unique, order kept
        if len(texts) < min_queries:
            continue
        common = os.path.commonprefix(texts)
        cut = common.rfind("\n")
        if cut < 0:
            cut = common.rfind(" ")
        common = common[: cut + 1] if cut >= 0 else ""
        if len(common) >= min_chars:
            prefixes.add(common)
    return sorted(prefixes, key=len, reverse=True)


def strip_prefixes(text: str, prefixes: Sequence[str]) -> str:
    """Remove the longest learned prefix ``text`` starts with; never return an empty string."""
    for p in prefixes:  # longest first
        if text.startswith(p) and len(text) > len(p) and text[len(p):].strip():
            return text[len(p):]
    return text


def tfidf_vectorizer(max_features: int, *, analyzer: str = "word", ngram_range: tuple[int, int] = (1, 1),
                     min_df: int = 2, vocabulary: Sequence[str] | None = None, idf=None):
    """scikit-learn's ``TfidfVectorizer`` (sublinear tf, float32): unfitted, or with ``vocabulary`` and ``idf``
    the fitted one a stored vocabulary and idf describe (``transform`` then works without a fit)."""
    import numpy as np
    from sklearn.feature_extraction.text import TfidfVectorizer

    vec = TfidfVectorizer(sublinear_tf=True, min_df=min_df, analyzer=analyzer, ngram_range=ngram_range,
                          max_features=max_features, dtype=np.float32,
                          vocabulary=None if vocabulary is None else {w: i for i, w in enumerate(vocabulary)})
    if idf is not None:
        vec.idf_ = idf
    return vec


class TfidfRows:
    """``vec.transform(texts)`` of a fitted ``tfidf_vectorizer`` (sublinear tf, l2 rows, float32) for the few
    texts a ``select()`` routes, without scikit-learn's per-call checks (~0.3 ms a call, most of the work for
    one short text). The vectoriser's own analyzer, vocabulary and idf make the rows: the same terms and
    values as ``transform`` (to float32 rounding; tests/test_text.py compares them)."""

    def __init__(self, vec) -> None:
        import numpy as np

        made = {"sublinear_tf": True, "norm": "l2", "use_idf": True, "binary": False}
        wrong = {k: getattr(vec, k, None) for k, v in made.items() if getattr(vec, k, None) != v}
        if wrong:
            raise ValueError(f"TfidfRows reproduces tfidf_vectorizer's settings {made}; this vectoriser has {wrong}. "
                             "Build it with graphroute.data.text.tfidf_vectorizer.")
        self._analyze = vec.build_analyzer()
        self._vocabulary = vec.vocabulary_
        self._idf = np.asarray(vec.idf_, dtype=np.float32)
        self.n_features = len(self._idf)

    def __call__(self, texts: Sequence[str]):
        """[len(texts), n_features] scipy CSR."""
        import numpy as np
        import scipy.sparse as sp

        if isinstance(texts, str):
            raise TypeError(f"TfidfRows takes a list of texts, not one string ({texts[:40]!r}); pass [text].")

        vocab, idf = self._vocabulary, self._idf
        indptr, indices, counts = [0], [], []
        for text in texts:
            # Counter counts in C; each distinct term is then looked up once (no two terms share a column)
            row = {j: n for t, n in Counter(self._analyze(text)).items() if (j := vocab.get(t)) is not None}
            cols = sorted(row)
            indices.extend(cols)
            counts.extend(row[j] for j in cols)
            indptr.append(len(indices))
        idx = np.asarray(indices, dtype=np.int32)
        ptr = np.asarray(indptr, dtype=np.int64)
        rows = np.repeat(np.arange(len(texts)), np.diff(ptr))
        val = (np.log(np.asarray(counts, dtype=np.float32)) + np.float32(1.0)) * idf[idx]
        norm = np.sqrt(np.bincount(rows, weights=val * val, minlength=len(texts))).astype(np.float32)
        val = val / np.where(norm > 0, norm, np.float32(1.0))[rows]
        return sp.csr_matrix((val, idx, ptr), shape=(len(texts), self.n_features))
