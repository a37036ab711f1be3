"""GenerationEvaluator: values against hand-computed ROUGE / METEOR cases, per-user table, buckets."""

import pytest

from coldstart_exp.eval.generation import GenerationEvaluator


@pytest.fixture(scope="module")
def ev():
    return GenerationEvaluator()


def test_names_say_meteor_has_no_synonyms(ev):
    assert ev.names == ["rouge1", "rougeL", "meteor_nosyn"]


def test_rouge1_and_rougel_hand_computed(ev):
    # 3 of 3 predicted unigrams in a 6-token reference: P=1, R=.5, F=2/3
    assert ev.score("the cat sat", "the cat sat on a mat")["rouge1"] == pytest.approx(2 / 3)
    # LCS("cat the sat", "the cat sat on a mat") = 2: P=2/3, R=1/3, F=4/9
    s = ev.score("cat the sat", "the cat sat on a mat")
    assert s["rouge1"] == pytest.approx(2 / 3)
    assert s["rougeL"] == pytest.approx(4 / 9)


def test_meteor_exact_hand_computed(ev):
    # m=3, P=1, R=.5 -> Fmean = PR/(.9P+.1R) = .5/.95; one chunk: pen = .5 (1/3)^3
    want = (0.5 / 0.95) * (1 - 0.5 * (1 / 3) ** 3)
    assert ev.score("the cat sat", "the cat sat on a mat")["meteor_nosyn"] == pytest.approx(want, abs=1e-9)


def test_stem_matching_in_both_metrics(ev):
    s = ev.score("cats running", "cat runs")
    assert s["rouge1"] == pytest.approx(1.0)
    # two stem matches, P=R=1, two matches in one chunk: pen = .5 (1/2)^3
    assert s["meteor_nosyn"] == pytest.approx(1 - 0.5 / 8)


def test_synonyms_only_with_a_wordnet_reader(ev):
    assert ev.score("car", "auto")["meteor_nosyn"] == 0.0

    class Lemma:
        def __init__(self, n):
            self.n = n

        def name(self):
            return self.n

    class Synset:
        def lemmas(self):
            return [Lemma("car"), Lemma("auto")]

    class TinyWordNet:
        def synsets(self, w):
            return [Synset()] if w in ("car", "auto") else []

    full = GenerationEvaluator(wordnet=TinyWordNet())
    assert full.names[-1] == "meteor"
    assert full.score("car", "auto")["meteor"] == pytest.approx(0.5)  # m=1, pen=.5 (words Porter leaves unchanged: the synonym stage sees stems)


def test_empty_prediction_scores_zero(ev):
    assert ev.score("", "some gold text") == {"rouge1": 0.0, "rougeL": 0.0, "meteor_nosyn": 0.0}


def test_table_and_bucket_aggregates(ev):
    t = ev.table([10, 11, 12, 13], [0, 2, 4, 9], ["a b", "a b", "x", "a b"], ["a b", "a c", "a b", "a b"])
    assert list(t.bucket) == ["0", "1-2", "3-5", "6+"]
    assert list(t.rouge1) == pytest.approx([1.0, 0.5, 0.0, 1.0])
    m = ev.aggregate({"test": t})["test"]
    assert m["users"] == 4
    assert m["overall"]["rouge1"] == pytest.approx(2.5 / 4)
    assert m["buckets"]["1-2"] == {"users": 1, "rouge1": 0.5, "rougeL": 0.5, "meteor_nosyn": pytest.approx(t.meteor_nosyn[1])}
    with pytest.raises(ValueError, match="same length"):
        ev.table([1], [0, 1], ["a"], ["a"])


def test_paired_test_aligns_users_and_counts_wins(ev):
    from coldstart_exp.eval.generation import paired_test

    a = ev.table([1, 2, 3, 4, 5, 6], [0] * 6, ["a b"] * 6, ["a b", "a b", "a b", "a b", "a b", "x"])
    b = ev.table([6, 5, 4, 3, 2, 1], [0] * 6, ["a"] * 6, ["x", "a b", "a b", "a b", "a b", "a b"])
    r = paired_test(a, b, ["rouge1"])["rouge1"]
    # users 1-5: 1.0 vs 2/3; user 6: 0 vs 0 (b's user 6 has gold "x")
    assert (r["wins"], r["losses"], r["ties"]) == (5, 0, 1)
    assert r["mean_diff"] == pytest.approx(5 * (1 - 2 / 3) / 6)
    assert r["wilcoxon_p"] == pytest.approx(0.0625)  # exact two-sided p for 5 positive ranks of 5
    with pytest.raises(ValueError, match="same users"):
        paired_test(a, b.iloc[:3], ["rouge1"])
