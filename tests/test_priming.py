"""Chapter 1: scores against hand computations, the change-point fit and Spearman's rho, the verdict rules,
the outlandish texts, and the real-model path on a tiny model."""

import math
import re
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import scipy.stats
import torch
from transformers import LlamaConfig, LlamaForCausalLM

from sticky import scorecard, stats
from sticky.experiments import priming
from sticky.store import Store
from sticky.world import documents as docs
from sticky.world import lexicon as lx
from sticky.world import tokenizer as tk

# ------------------------------------------------------------------------------------------ scores


def test_memorization_score_by_hand():
    # before 0.01, after 0.05, control 0.02: raw ratio 5, drift 2, corrected 2.5 (= after / control)
    assert priming.memorization_score(0.05, 0.01) == pytest.approx(5.0)
    assert priming.memorization_score(0.05, 0.01, 0.02) == pytest.approx(2.5)
    assert priming.memorization_score([0.05, 0.2], [0.01, 0.1], [0.01, 0.4]).tolist() == pytest.approx([5.0, 0.5])


def test_priming_score_is_mean_of_drift_corrected_ratios():
    before = np.array([0.001, 0.01, 0.1])
    after = np.array([0.004, 0.02, 0.1])
    control = np.array([0.002, 0.01, 0.05])
    # ratios 4, 2, 1 -> mean 7/3; corrected by control ratios 2, 1, 0.5 -> 2, 2, 2 -> mean 2
    assert priming.priming_score(after, before) == pytest.approx(7 / 3)
    assert priming.priming_score(after, before, control) == pytest.approx(2.0)
    # a matrix: one score per row
    m = np.vstack([after, before])
    assert priming.priming_score(m, np.vstack([before, before])).tolist() == pytest.approx([7 / 3, 1.0])


def test_no_change_gives_one():
    p = np.array([0.3, 1e-5, 2e-3])
    assert priming.priming_score(p, p, p) == pytest.approx(1.0)
    assert priming.drift_corrected_ratio(p * 3, p, p * 3).tolist() == pytest.approx([1.0, 1.0, 1.0])


# ------------------------------------------------------------------------------------------ stats


def test_change_point_step_by_hand():
    x = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    y = np.array([3.0, 3.0, 1.0, 0.0, 1.0])
    fit = stats.change_point_fit(x, y, min_side=2)
    # candidates 2.5 (sse 0 + 2/3) and 3.5 (sse 2/3 + 0.5): the break at 2.5
    assert fit["threshold"] == pytest.approx(2.5)
    assert fit["below"] == pytest.approx(3.0) and fit["above"] == pytest.approx(2 / 3)
    assert fit["sse"] == pytest.approx(2 / 3)


def test_change_point_recovers_planted_threshold():
    rng = np.random.default_rng(0)
    x = rng.uniform(-6, -1, 80)  # log10 p_before
    y = np.where(x < -3, 0.6, 0.02) + rng.normal(0, 0.05, 80)  # strong priming below 1e-3
    fit = stats.change_point_fit(x, y)
    assert abs(fit["threshold"] + 3) < 0.15
    _, lo, hi = stats.bootstrap(x, y, lambda a, b: stats.change_point_fit(a, b)["threshold"], n_resamples=200)
    assert lo <= -3 <= hi and hi - lo < 0.6
    hinge_y = np.maximum(0, -3 - x) * 0.4 + rng.normal(0, 0.02, 80)
    hinge = stats.change_point_fit(x, hinge_y, kind="hinge")
    assert abs(hinge["threshold"] + 3) < 0.3 and hinge["slope"] == pytest.approx(0.4, abs=0.05)


def test_change_point_bad_input():
    with pytest.raises(ValueError, match="distinct x"):
        stats.change_point_fit([1.0, 1.0, 1.0, 1.0], [1.0, 2.0, 3.0, 4.0])
    with pytest.raises(ValueError, match="kind"):
        stats.change_point_fit([1.0, 2.0, 3.0, 4.0], [1.0, 2.0, 3.0, 4.0], kind="spline")


def test_spearman_matches_scipy_with_ties():
    rng = np.random.default_rng(1)
    x = rng.integers(0, 6, 40).astype(float)
    y = x + rng.normal(0, 2, 40)
    rho, p = stats.spearman(x, y)
    ref = scipy.stats.spearmanr(x, y)
    assert rho == pytest.approx(ref.statistic) and p == pytest.approx(ref.pvalue)
    assert stats.spearman([1, 2, 3, 4], [8, 6, 4, 2]) == (-1.0, 0.0)


def test_bootstrap_skips_failed_resamples_and_is_seeded():
    x, y = np.arange(10.0), np.arange(10.0) * 2
    est, lo, hi = stats.bootstrap(x, y, lambda a, b: float(np.mean(b - a)), n_resamples=100)
    assert est == pytest.approx(4.5) and lo < 4.5 < hi
    assert stats.bootstrap(x, y, lambda a, b: float(np.mean(b - a)), n_resamples=100) == (est, lo, hi)


# ------------------------------------------------------------------------------------------ verdicts


def test_verdict_rules():
    assert priming.verdict_rho(-0.8, -0.4, 20) == "reproduced"
    assert priming.verdict_rho(-0.3, -0.05, 20) == "partly"
    assert priming.verdict_rho(-0.3, 0.1, 20) == "not reproduced"
    assert priming.verdict_rho(-0.9, -0.5, 8) == "inconclusive"
    assert priming.verdict_threshold(-3.5, -2.5, 0.2, 40) == "reproduced"
    assert priming.verdict_threshold(-5.0, -4.0, 0.2, 40) == "partly"
    assert priming.verdict_threshold(-3.5, -2.5, -0.1, 40) == "not reproduced"
    assert priming.verdict_threshold(np.nan, np.nan, 0.2, 40) == "inconclusive"
    assert priming.verdict_spaced(0.1, 0.4, 0.3, 0.6) == "reproduced"
    assert priming.verdict_spaced(0.05, 0.2, 0.3, 0.6) == "partly"
    assert priming.verdict_spaced(-0.05, 0.1, 0.3, 0.6) == "not reproduced"
    assert priming.verdict_spaced(0.1, 0.4, -0.1, 0.6) == "inconclusive"
    assert priming.verdict_mitigation(0.7, 0.4, 0.8, 0.2) == "reproduced"
    assert priming.verdict_mitigation(0.7, 0.4, 0.3, 0.2) == "partly"  # memorization lost
    assert priming.verdict_mitigation(0.3, 0.1, 0.9, 0.2) == "partly"
    assert priming.verdict_mitigation(0.3, -0.1, 0.9, 0.2) == "not reproduced"
    assert priming.verdict_mitigation(0.7, 0.4, 0.8, -0.1) == "inconclusive"  # nothing to cut
    assert priming.verdict_mitigation(0.7, 0.4, 0.8, 0.2, p_before_rise=-0.2) == "inconclusive"


def test_scorecard_columns_and_bad_verdict(tmp_path, monkeypatch):
    monkeypatch.setenv("STICKY_FIGURES", str(tmp_path))
    fit = dict(n=20, keywords=10, rho_prime=-0.7, rho_prime_low=-0.9, rho_prime_high=-0.4, rho_prime_kw_low=-0.95,
               rho_prime_kw_high=0.1, threshold_log10=-3.2, threshold_low=-3.6, threshold_high=-2.8, gap=1.0,
               gap_low=0.1, gap_kw_low=0.6, gap_kw_high=1.4)
    card = priming.scorecard({"micro-world": priming.threshold_rows(fit, 2000)}, "smoke")
    assert list(card.columns) == scorecard.COLUMNS
    # over keywords rho's interval reaches 0.1 (leaves -0.3): inconclusive where v1, over texts, said reproduced
    assert card.verdict.tolist() == ["inconclusive", "reproduced"]
    assert card.verdict_v1.tolist() == ["reproduced", "reproduced"]
    assert card.kind.tolist() == ["paper finding"] * 2 and card.unit.tolist() == ["keyword"] * 2
    assert card.our_value[1] == pytest.approx(1.0) and "1e-3" in card.paper_value[1] and "6.3e-04" in card.claim[1]
    # the break in units of 1/V: 10^-3.2 x 2000 = 1.26/V; the paper's 1e-3 is 2/V in this vocabulary
    assert "= 1.26/V (V = 2,000; the paper's 1e-3 = 2/V here)" in card.claim[1]

    path = scorecard.write(card, "priming")
    assert pd.read_csv(path).shape == card.shape
    with pytest.raises(ValueError, match="allowed"):
        priming.scorecard({"x": [dict(claim_id="a", claim="b", paper_value=1, our_value=1, ci_low=0, ci_high=2,
                                      verdict="sort of")]}, "smoke")


def test_rule_three_is_rho_after_three_spaced_exposures():
    p = np.logspace(-5, -1, 8)
    spaced = pd.DataFrame(dict(condition="3 spaced", p_before=p, priming_score=(1 + 0.01 * np.arange(8)) / np.sqrt(p)))
    summary = pd.DataFrame([dict(condition="3 spaced", log10_priming=0.4, low=0.1, high=0.7),
                            dict(condition="30 consecutive", log10_priming=0.6, low=0.3, high=0.9)])
    row = priming.exposure_rows(spaced, summary)[0]
    assert row["our_value"] == pytest.approx(-1.0) and row["verdict"] == "reproduced"  # a perfect rank order
    assert row["verdict_v1"] == "reproduced" and row["unit"] == "keyword"
    assert priming.exposure_rows(spaced.head(4), summary)[0]["verdict"] == "inconclusive"  # too few keywords


def test_parameters_reject_bad_lists():
    ns = {"profile": "smoke"}
    P = priming.resolve(ns)
    assert P.exposure_counts == [1, 3] and P.ignore_k == [0.0, 0.08] and P.real_model == "none"
    for name, value in [("ignore_k_values", "0,2,x"), ("ignore_k_values", "120"), ("exposures", "")]:
        with pytest.raises(ValueError, match=f"parameter '{name}'") as err:
            priming.resolve({"profile": "smoke", name: value})
        assert "\n" not in str(err.value)
    with pytest.raises(ValueError, match="real_model"):
        priming.resolve({"profile": "smoke", "real_model": "gpt-9"})


# ------------------------------------------------------------------------------------------ texts


class _World:
    """Just what ``outlandish_texts`` reads from a world: themes and a tokenizer."""

    def __init__(self):
        self.themes = lx.make_themes(0)
        words = set(lx.english_words()) | docs.template_words() | set(lx.PUNCTUATION)
        for class_words in docs.list_classes().values():
            words.update(class_words)
        self.tokenizer = tk.build_tokenizer(sorted(words), docs.ADDED_MARKERS, "")


@pytest.fixture(scope="module")
def world():
    return _World()


def test_outlandish_texts_deterministic_keyword_in_slot(world):
    keywords = priming.pick_keywords(world, 3)
    assert len(keywords) == 12 and keywords.theme.value_counts().eq(3).all()
    assert keywords["rank"].nunique() == 12  # interleaved rungs across themes
    a = priming.outlandish_texts(world, keywords, 4, seed=0)
    b = priming.outlandish_texts(world, keywords, 4, seed=0)
    c = priming.outlandish_texts(world, keywords, 4, seed=1)
    pd.testing.assert_frame_equal(a, b)
    assert not a.text.equals(c.text)
    # the context ends with the head of one of its theme's outlandish sentences: the keyword sits in that slot
    heads = {t: [re.compile(re.sub(r"\\\{\w+\\\}", r"\\S+", re.escape(s.split("{K}")[0].strip())) + "$")
                 for s in priming.OUTLANDISH_TEMPLATES[t]] for t in priming.OUTLANDISH_TEMPLATES}
    for row in a.itertuples():
        assert row.text.startswith(row.context) and row.text.split().count(row.keyword) == priming.SENTENCES_PER_TEXT
        assert any(h.search(row.context) for h in heads[row.theme]), row.context
        assert row.stone_text.endswith(row.text) and row.stone_context.startswith("a list :")


# ------------------------------------------------------------------------------------------ a lab, end to end


def _tiny_lab(world, tmp_path, texts):
    tok = world.tokenizer
    cfg = LlamaConfig(vocab_size=len(tok), hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                      num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=64,
                      bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id)
    torch.manual_seed(0)
    model = LlamaForCausalLM(cfg).eval()
    background = ["it was a quiet day in the garden .", "a list : cat , dog , owl .", "the sky was grey ."] * 20
    keywords = list(dict.fromkeys(zip(texts.keyword, texts.theme)))
    banks = {t: docs.theme_prefixes(t, 20) for t in lx.THEMES}
    return priming.real_lab("tiny", model, tok, background, banks, keywords, steps=2, seed=0, device="cpu",
                            store=Store(tmp_path), seq_len=32, batch_size=2, lr=1e-3)


def test_measure_and_experiments_on_a_tiny_model(world, tmp_path):
    keywords = priming.pick_keywords(world, 1)
    texts = priming.outlandish_texts(world, keywords, 2, seed=0)
    lab = _tiny_lab(world, tmp_path, texts)
    results = priming.measure(lab, texts)
    assert len(results) == len(texts) and (results.p_before > 0).all()
    assert np.isfinite(results[["memorization_score", "priming_score", "cross_priming_score"]].to_numpy()).all()
    # learning the text raises its keyword after its own context, against the control
    assert (results.memorization_score > 1).all()
    # cached: a second call reads the store and gives the same numbers
    again = priming.measure(lab, texts)
    pd.testing.assert_frame_equal(results, again)
    fit = priming.threshold_analysis(results, n_resamples=50)
    assert -1 <= fit["rho_prime"] <= 1 and fit["keywords"] == texts.keyword.nunique()
    subset = priming.low_prior_subset(results)
    mit = priming.mitigation_experiment(lab, subset, [0.0, 0.2], results)
    summary = priming.mitigation_summary(mit)
    assert set(summary.mitigation) == {"ignore-k 20%", "stepping stone"}
    stone = summary.set_index("mitigation").loc["stepping stone"]
    assert math.isfinite(stone.p_before_rise_decades)


def test_real_texts_and_banks_are_complete():
    texts = priming.real_texts(10)
    assert texts.keyword.nunique() == 12 and texts.groupby("keyword").size().min() >= 3
    assert set(texts.theme) == set(lx.THEMES)
    for row in texts.itertuples():
        assert row.text.startswith(row.context) and len(row.context) > 10
    banks = priming.real_banks()
    assert set(banks) == set(lx.THEMES) and all(len(b) >= 20 for b in banks.values())


def test_text_scores_by_hand():
    lab = SimpleNamespace(keywords=pd.DataFrame({"keyword": ["red", "tea"]}),
                          bank_theme=np.array(["colour", "colour", "food"]))
    # bank matrices: prefix x keyword; "red" is column 0, its theme's prefixes rows 0 and 1
    before = {"bank": [[0.01, 0.5], [0.02, 0.5], [0.1, 0.5]]}
    after = {"bank": [[0.04, 0.5], [0.02, 0.5], [0.1, 0.5]]}
    control = {"bank": [[0.02, 0.5], [0.02, 0.5], [0.2, 0.5]]}
    s = priming.text_scores(lab, dict(keyword="red", theme="colour"), before, after, control, 0.01, 0.05, 0.02)
    assert s["memorization_score"] == pytest.approx(2.5)
    assert s["priming_score"] == pytest.approx((2.0 + 1.0) / 2)
    assert s["cross_priming_score"] == pytest.approx(0.5)
    # the parts: mean P_before 0.015; drift-corrected P_after 0.04 * 0.01 / 0.02 = 0.02 and 0.02, mean 0.02;
    # a constant P_after of 1: mean of 1 / 0.01 and 1 / 0.02 = 75
    assert (s["bank_p_before"], s["bank_p_after"], s["constant_after_score"]) == pytest.approx((0.015, 0.02, 75.0))


def test_the_constant_after_null_forces_a_negative_rho():
    """If learning left the keyword at the same P_after whatever its prior, S_prime = P_after / P_before falls
    with the prior by arithmetic alone: rho of the null is -1 where the bank's prior follows p_before."""
    p = np.logspace(-5, -1, 12)
    results = pd.DataFrame(dict(keyword=[f"k{i // 2}" for i in range(12)], p_before=p, priming_score=0.05 / p,
                                memorization_score=np.ones(12), bank_p_before=p, bank_p_after=np.full(12, 0.05),
                                constant_after_score=1 / p))
    fit = priming.threshold_analysis(results, n_resamples=50)
    assert fit["rho_null"] == pytest.approx(-1) and fit["rho_prime"] == pytest.approx(-1)
    assert fit["rho_after"] != fit["rho_after"]  # a constant P_after has no rank correlation (nan)
    # logit(0.05) - logit(p) falls with p: the change in log-odds is forced negative too
    assert fit["rho_log_odds"] == pytest.approx(-1)
    assert priming.log_odds_change(0.5, 0.75) == pytest.approx(np.log(3))
