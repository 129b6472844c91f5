"""Learned boilerplate prefixes."""

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
