"""Learned boilerplate prefixes."""

import pytest

from graphroute.data.text import learn_prefixes, strip_prefixes

SHOTS = "".join(f"Question: what is {i} plus {i}?\nAnswer: {2 * i}\n\n" for i in range(1, 6))


def test_shared_few_shot_prefix_is_learned_and_stripped():
    texts = [SHOTS + f"Question: what is {i} plus {i + 1}?\nAnswer:" for i in range(10)]
    prefixes = learn_prefixes([texts])
    assert prefixes == [SHOTS]
    assert strip_prefixes(texts[3], prefixes) == "Question: what is 3 plus 4?\nAnswer:"


def test_short_or_rare_prefixes_are_ignored():
    assert learn_prefixes([["Question: a", "Question: b", "Question: c", "Question: d", "Question: e"]]) == []
    assert learn_prefixes([[SHOTS + "x", SHOTS + "y"]]) == []  # two queries are a coincidence


def test_prefix_cut_at_a_boundary_and_never_empties_a_query():
    texts = [SHOTS + f"Question number {i}" for i in range(6)]
    (p,) = learn_prefixes([texts])
    assert p == SHOTS  # cut back to the line break, not inside "Question number"
    assert strip_prefixes(p, [p]) == p  # the prefix itself is not stripped to nothing
    assert strip_prefixes("unrelated text", [p]) == "unrelated text"


@pytest.mark.parametrize("analyzer, ngrams", [("word", (1, 2)), ("char_wb", (2, 4))])
def test_tfidf_rows_equal_the_vectorisers_transform(analyzer, ngrams):
    """TfidfRows (the select() path) gives transform's terms and values: repeated terms (sublinear tf),
    accents and case, a text with no known term (an empty row), an empty text, and a batch."""
    import numpy as np

    from graphroute.data.text import TfidfRows, tfidf_vectorizer

    fit_on = ["the cat sat on the mat", "a dog! a dog? a dog.", "12 + 30 = ?", "Café naïve résumé",
              "The CAT and the dog", "what is the capital of France"] * 3
    vec = tfidf_vectorizer(256, analyzer=analyzer, ngram_range=ngrams).fit(fit_on)
    new = ["the cat and the the the dog", "", "zzzz qqqq", "CAFÉ résumé", "what is 12 + 30?", "a dog"]
    want, got = vec.transform(new), TfidfRows(vec)(new)
    assert got.shape == want.shape and got.dtype == np.float32
    assert (got.indptr == want.indptr).all() and (got.indices == want.indices).all()
    np.testing.assert_allclose(got.toarray(), want.toarray(), rtol=0, atol=1e-6)
    assert got[1].nnz == 0  # the empty text
    if analyzer == "word":
        assert got[2].nnz == 0  # no known word
    stored = tfidf_vectorizer(256, analyzer=analyzer, ngram_range=ngrams,
                              vocabulary=vec.get_feature_names_out().tolist(), idf=vec.idf_)
    np.testing.assert_allclose(TfidfRows(stored)(new).toarray(), want.toarray(), rtol=0, atol=1e-6)


def test_tfidf_rows_refuse_what_they_do_not_reproduce():
    from sklearn.feature_extraction.text import TfidfVectorizer

    from graphroute.data.text import TfidfRows, tfidf_vectorizer

    with pytest.raises(ValueError, match="sublinear_tf"):
        TfidfRows(TfidfVectorizer().fit(["red cat", "red dog"]))  # plain tf: not what tfidf_vectorizer makes
    rows = TfidfRows(tfidf_vectorizer(16, min_df=1).fit(["a cat", "a dog"]))
    with pytest.raises(TypeError, match="list of texts"):
        rows("a cat")
