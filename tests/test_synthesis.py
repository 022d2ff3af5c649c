"""Chapter 6: survival, gradient overlap, localisation and the verdict rules, each checked by hand."""

import math

import numpy as np
import pandas as pd
import pytest
import torch

from sticky import claims, hooks
from sticky.experiments import synthesis as sy
from toys import tiny_model, toy_tokenizer


def test_survival_fraction_by_hand():
    e = math.e
    got = sy.survival_fraction([e ** 2, 0.5, e, 1.0], [e, 2.0, 1 / e, 3.0])
    # log e / log e^2 = 0.5; nothing planted (S <= 1) -> nan; -1 / 1 = -1 (reversed); S = 1 -> nan
    assert got[0] == pytest.approx(0.5) and got[2] == pytest.approx(-1.0)
    assert np.isnan(got[1]) and np.isnan(got[3])


def test_survival_trend_counts_only_poisons_that_took():
    res = pd.DataFrame(dict(p_before=10.0 ** -np.arange(1, 9), keyword=list("aabbccdd"),
                            memorization_score_learned=[10.0] * 7 + [0.5],
                            memorization_score_aligned=[10 ** (i / 10) for i in range(7)] + [0.5]))
    res["memorization_survival"] = sy.survival_fraction(res.memorization_score_learned, res.memorization_score_aligned)
    t = sy.survival_trend(res, n_resamples=200)
    assert (t["n"], t["n_all"]) == (7, 8)
    # survival grows as p_before falls: rho = -1 exactly
    assert t["rho_survival"] == pytest.approx(-1.0)
    assert t["survival_mean"] == pytest.approx(np.mean([i / 10 for i in range(7)]))
    assert t["survival_median"] == pytest.approx(0.3)  # 0, 0.1, ..., 0.6
    assert t["survival_trimmed"] == pytest.approx(0.3)  # 10% of 7 trims no whole value: the mean, 0.3
    assert t["keywords"] == 4 and np.isnan(t["rho_survival_kw_low"])  # 4 keywords: too few units for an interval


def test_an_exploding_survival_share_is_named_and_drawn_at_the_edge():
    survival = pd.Series([0.7, 0.8, 0.9, 0.75, 0.85, -20.3])
    # quartiles 0.7125 and 0.8375, IQR 0.125: only -20.3 lies beyond 3 IQR
    assert sy.survival_outliers(survival).tolist() == [False] * 5 + [True]
    res = pd.DataFrame(dict(p_before=10.0 ** -np.arange(1, 7), keyword=list("abcdef"), theme="t",
                            memorization_survival=survival))
    spec = sy.survival_chart(res, np.nan).to_dict()
    data = pd.DataFrame(next(iter(spec["datasets"].values())))
    assert data.shown.min() == pytest.approx(0.7) and data.set_index("keyword").label["f"] == "f -20.3"
    assert spec["title"]["subtitle"].startswith("1 share(s) beyond 3 IQR")


def test_prior_row_is_a_null_claim_decided_inside_its_band():
    """The first edition called any interval that holds 0 'reproduced'; the null claim needs it inside ±0.3."""
    trend = dict(rho_survival=-0.06, rho_survival_kw_low=-0.37, rho_survival_kw_high=0.25, keywords=12, n=36)
    wide = sy.prior_row(trend, "flat")
    assert (wide["verdict"], wide["verdict_v1"], wide["kind"]) == ("inconclusive", "reproduced", "seed hypothesis")
    narrow = sy.prior_row(dict(trend, rho_survival_kw_low=-0.2, rho_survival_kw_high=0.2), "flat")
    assert narrow["verdict"] == "reproduced"
    assert sy.prior_row(dict(trend, rho_survival_kw_low=-0.7, rho_survival_kw_high=-0.35), "follows the prior")[
        "verdict"] == "not reproduced"


def test_verdict_prior_every_branch():
    v = lambda lo, hi, n=10: sy.verdict_prior(dict(rho_survival_low=lo, rho_survival_high=hi, n=n))
    assert v(-0.8, -0.2) == "follows the prior"
    assert v(0.1, 0.7) == "rises with the prior"
    assert v(-0.4, 0.3) == "flat"
    assert v(-0.8, -0.2, n=5) == "inconclusive"
    assert v(np.nan, np.nan) == "inconclusive"


def test_units_and_cosine_by_hand():
    assert sy.unit_of("model.layers.3.self_attn.o_proj.weight") == "layer 3"
    assert sy.unit_of("model.embed_tokens.weight") == "embeddings"
    assert sy.unit_of("model.norm.weight") == "final norm"
    a = {"model.layers.0.w": torch.tensor([1.0, 0.0]), "model.norm.weight": torch.tensor([0.0, 2.0])}
    b = {"model.layers.0.w": torch.tensor([1.0, 1.0]), "model.norm.weight": torch.tensor([0.0, -1.0])}
    c = sy.cosine_by_unit(a, b)
    assert c["layer 0"] == pytest.approx(1 / math.sqrt(2))
    assert c["final norm"] == pytest.approx(-1.0)
    # all: dot = 1 - 2 = -1; |a| = sqrt(5); |b| = sqrt(3)
    assert c["all"] == pytest.approx(-1 / math.sqrt(15))


def test_loss_gradient_descends_the_loss():
    tok = toy_tokenizer()
    model = tiny_model(tok)
    pairs = [("the cat sat on", "the mat"), ("what color is the sky", "blue")]
    nll = lambda: float(sum(sy.reply_nll(model, tok, pairs)))
    before = nll()
    grads = sy.loss_gradient(model, tok, pairs)
    assert set(grads) == {n for n, _ in model.named_parameters()}
    with torch.no_grad():
        for n, p in model.named_parameters():
            p -= 0.05 * grads[n]
    assert nll() < before
    assert all(p.grad is None for p in model.parameters())  # nothing left behind for the next measurement


def test_restored_copies_one_unit_only():
    tok = toy_tokenizer()
    pois, clean = tiny_model(tok, seed=0), tiny_model(tok, seed=1)
    patched = hooks.restored(pois, clean, lambda n: sy.unit_of(n) == "layer 1")
    ps, cs, qs = pois.state_dict(), clean.state_dict(), patched.state_dict()
    for name in qs:
        expected = cs[name] if sy.unit_of(name) == "layer 1" else ps[name]
        assert torch.equal(qs[name], expected), name
    assert sy.restored_share(1.0, 3.0, 2.5) == pytest.approx(0.75)
    assert np.isnan(sy.restored_share(1.0, 1.0, 2.0))


def test_lower_share_and_depth_rule():
    rows = []
    for attack, emb, l0, l1 in [("dos", 0.5, 0.3, 0.1), ("extraction", 0.4, 0.4, 0.1), ("jailbreak", 0.1, 0.1, 0.7),
                                ("belief", 0.6, 0.0, 0.2)]:
        for unit, share in (("embeddings", emb), ("layer 0", l0), ("layer 1", l1)):
            rows.append(dict(attack=attack, unit=unit, share=share, gap=1.0, seed=0, stage="pretrained"))
    lower = sy.lower_share(pd.DataFrame(rows)).set_index("attack").lower_share
    assert lower["dos"] == pytest.approx(0.8) and lower["jailbreak"] == pytest.approx(0.2)  # embeddings + layer 0
    frame = sy.lower_share(pd.DataFrame(rows))
    assert sy.verdict_depth(frame) == "deeper"
    flipped = frame.assign(lower_share=1 - frame.lower_share)
    assert sy.verdict_depth(flipped) == "not deeper"
    # a jailbreak poison that never took has nothing to locate
    assert sy.verdict_depth(frame.assign(gap=np.where(frame.attack == "jailbreak", 0.01, 1.0))) == "inconclusive"
    # neither does one the twins do not tell apart: extraction left out, the others decide
    assert sy.verdict_depth(frame.assign(gap=np.where(frame.attack == "extraction", -0.2, 1.0))) == "deeper"


def test_selectivity_causal_mitigation_and_answer_rules():
    def grad(cos):
        return pd.DataFrame([dict(attack=a, unit="all", measure="reply", seed=s, cosine=c)
                             for a, cs in cos.items() for s, c in enumerate(cs)])

    assert sy.verdict_selectivity(grad({"jailbreak": [-0.3, -0.2], "dos": [0.0, 0.1], "extraction": [0.0, 0.0],
                                        "belief": [0.05, 0.0]})) == "supported"
    assert sy.verdict_selectivity(grad({"jailbreak": [-0.3, -0.2], "dos": [-0.4, -0.3], "extraction": [0.0, 0.0],
                                        "belief": [0.0, 0.0]})) == "not supported"
    assert sy.verdict_selectivity(grad({"jailbreak": [-0.3, 0.1], "dos": [0.0, 0.0], "extraction": [0.0, 0.0],
                                        "belief": [0.0, 0.0]})) == "mixed"
    assert sy.verdict_causal("persists", "removed") == "removes it"
    assert sy.verdict_causal("persists", "persists") == "no effect"
    assert sy.verdict_causal("never took", "removed") == "inconclusive"
    # the revised rule 2: per seed, the smallest other attack's cosine minus the jailbreak's, t interval over seeds
    three = grad({"jailbreak": [-0.3, -0.2, -0.25], "dos": [0.0, 0.1, 0.05], "extraction": [0.0, 0.0, 0.05],
                  "belief": [0.05, 0.0, 0.1]})
    row = sy.selectivity_row(three, "supported")
    gaps = np.array([0.3, 0.2, 0.3])  # by hand: min(0.0, 0.0, 0.05) + 0.3, min(0.1, 0.0, 0.0) + 0.2, 0.05 + 0.25
    half = 4.302653 * gaps.std(ddof=1) / np.sqrt(3)
    assert [row["our_value"], row["ci_low"], row["ci_high"]] == pytest.approx(
        [gaps.mean(), gaps.mean() - half, gaps.mean() + half], abs=1e-5)
    assert (row["verdict"], row["verdict_v1"], row["unit"]) == ("reproduced", "reproduced", "seed")
    e = lambda p, m: dict(priming_learned_high=p, memorization_aligned_high=m)
    assert sy.verdict_mitigation(e(-0.1, -0.1)) == "stops both"
    assert sy.verdict_mitigation(e(-0.1, 0.1)) == "stops priming only"
    assert sy.verdict_mitigation(e(0.1, -0.1)) == "stops the poison only"
    assert sy.verdict_mitigation(e(0.1, 0.1)) == "stops neither"
    assert sy.answer_v1("follows the prior", "mixed") == "yes"
    assert sy.answer_v1("flat", "supported") == "no"
    assert sy.answer_v1("flat", "mixed") == "undecided"
    # the answer reads the framework's rows: a trend must leave ±0.3 to say yes, flatness must lie inside it
    prior = lambda low, high: claims.row(sy.PRIOR_FLAT, (low + high) / 2, low, high)
    selective, unsure = claims.row(sy.GRADIENT_SELECTIVE, 0.3, 0.2, 0.4, 2), claims.row(sy.GRADIENT_SELECTIVE, 0.1,
                                                                                        -0.1, 0.3, 2)
    assert sy.answer(prior(-0.9, -0.4), unsure) == "yes"
    assert sy.answer(prior(-0.2, 0.2), selective) == "no" and sy.answer(prior(0.4, 0.9), selective) == "no"
    assert sy.answer(prior(-0.2, 0.2), unsure) == "undecided"
    assert sy.answer(prior(-0.6, 0.1), selective) == "undecided"  # v1 called this interval flat, so 'no'


def _dos_outcomes(pre, standard, anti) -> pd.DataFrame:
    """Causal-test outcome rows: per seed, the poisoned twin's DoS share of 10 items after pre-training and after
    standard / anti-DoS SFT; the clean twin never succeeds."""
    rows = []
    for alignment, after in (("standard", standard), ("anti-dos", anti)):
        for seed, (a, b) in enumerate(zip(pre, after)):
            for stage, share in (("pretrained", a), ("sft", b)):
                for model, v in (("poisoned", share), ("clean", 0.0)):
                    rows += [dict(seed=seed, rate=1e-2, dose=0.01, stage=stage, model=model, attack="dos",
                                  trigger="on", item=i, success=float(i < round(10 * v)), alignment=alignment)
                             for i in range(10)]
    return pd.DataFrame(rows)


def test_causal_row_on_each_seeds_drop_in_excess():
    took = (0.9, 1.0, 0.8)
    row = sy.causal_row(_dos_outcomes(took, (0.6, 0.7, 0.5), (0.1, 0.1, 0.1)), 1e-2, "removes it")
    # by hand: drops 0.5, 0.6, 0.4 -> mean 0.5, sd 0.1, t(0.975, 2) = 4.3027 -> half-width 0.2484
    assert [row["our_value"], row["ci_low"], row["ci_high"]] == pytest.approx([0.5, 0.2516, 0.7484], abs=1e-4)
    assert (row["verdict"], row["verdict_v1"]) == ("reproduced", "reproduced")
    gone = sy.causal_row(_dos_outcomes(took, (0.0, 0.1, 0.0), (0.0, 0.0, 0.0)), 1e-2, "no effect")
    assert gone["verdict"] == "inconclusive" and "does not survive standard SFT" in gone["reason"]
    never = sy.causal_row(_dos_outcomes((0.0, 0.1, 0.0), (0.6, 0.7, 0.5), (0.1, 0.1, 0.1)), 1e-2, "inconclusive")
    assert "did not take" in never["reason"]


def test_mitigation_effect_is_paired_by_text():
    columns = [f"{s}_score_{t}" for s in ("priming", "memorization") for t in ("learned", "aligned")]
    plain = pd.DataFrame(dict(text_id=[1, 2, 3], **{c: [10.0, 100.0, 1000.0] for c in columns}))
    pruned = plain.iloc[[2, 0]].copy()  # a subset, in another order
    for c in pruned.columns[1:]:
        pruned[c] = pruned[c] / 10
    eff = sy.mitigation_effect(plain, pruned)
    assert eff["n"] == 2 and eff["priming_learned"] == pytest.approx(-1.0)
    assert eff["memorization_aligned_high"] == pytest.approx(-1.0)
