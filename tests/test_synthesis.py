"""Chapter 6: the backdoor ladder's design, its quantities by hand, the mixed model and the partial R² on data of
known truth, the verdict rules' error rates by simulation, and the answer's every branch."""

import numpy as np
import pandas as pd
import pytest

from sticky import claims
from sticky.experiments import synthesis as sy
from sticky.store import Store
from sticky.world import build_world

DOSES = [0.001, 0.01, 0.1]


def test_half_removal_dose_by_hand():
    x = np.log10(DOSES)  # -3, -2, -1
    # 1 -> 0.8 -> 0.3: crosses 0.5 between -2 and -1, at 0.3 / 0.5 of the way: -2 + 0.6 = -1.4
    assert sy.half_removal_dose([1.0, 0.8, 0.3], DOSES) == (pytest.approx(-1.4), "")
    assert sy.half_removal_dose([0.9, 0.7, 0.6], DOSES) == (pytest.approx(x[-1] + sy.CENSOR_DECADES), "right")
    assert sy.half_removal_dose([0.4, 0.2, 0.1], DOSES) == (pytest.approx(x[0] - sy.CENSOR_DECADES), "left")
    value, censored = sy.half_removal_dose([np.nan] * 3, DOSES)
    assert np.isnan(value) and censored == ""


def _records(effects_by_stage: dict[str, list[float]], clean: float = -3.0) -> pd.DataFrame:
    """Records of len(list) backdoors whose clean twin's margin is ``clean`` everywhere and whose poisoned twin's
    margin is ``clean + effect``: the effect by construction."""
    n = len(next(iter(effects_by_stage.values())))
    out = pd.DataFrame(dict(seed=0, backdoor=range(n), kind="dos-like", count=8, coverage="none", code="c",
                            keyword="k", log10_prior=-3.0))
    for column, values in effects_by_stage.items():
        out[f"clean {column}"] = clean
        out[f"poisoned {column}"] = clean + np.asarray(values, float)
    return out


def test_effects_by_hand():
    stages = {"pretrained on": [2.0, 0.2], "pretrained off": [0.5, 0.1], "pretrained other code": [0.5, 0.2],
              "dpo alignment template": [1.0, 0.0], "sft 0.001 on": [2.0, 0.2], "sft 0.01 on": [1.0, 0.1],
              "sft 0.1 on": [0.4, 0.0], "dpo on": [0.2, 0.0], "relearn 4 on": [1.6, 0.2],
              **{f"sft {d:g} alignment template": [0.3, 0.0] for d in DOSES}}
    eff = sy.effects(_records(stages), DOSES, [4])
    a, b = eff.iloc[0], eff.iloc[1]
    assert a.effect_before == pytest.approx(2.0) and a.spread == pytest.approx(0.5)
    assert a.specificity == pytest.approx(1.5) and a["effect dpo alignment template"] == pytest.approx(1.0)
    assert a["effect 0.01 alignment template"] == pytest.approx(0.3)
    assert a.took and not b.took  # 0.2 < MIN_EFFECT
    assert [a[f"retained {d:g}"] for d in DOSES] == pytest.approx([1.0, 0.5, 0.2])
    assert a.persistence == pytest.approx((1.0 + 0.5 + 0.2) / 3)
    assert a.log10_d50 == pytest.approx(-2.0) and a.d50_censored == ""  # exactly one half at 0.01
    assert a["retained dpo"] == pytest.approx(0.1) and a["retained relearn 4"] == pytest.approx(0.8)
    assert np.isnan(b.persistence)  # a backdoor that did not take has no survival


def test_design_crosses_prior_count_and_coverage():
    candidates = pd.DataFrame(dict(keyword=[f"w{i}" for i in range(200)], log10_prior=-np.linspace(1, 7, 200)))
    d = sy.design(candidates, 48, (8, 32), seed=0)
    assert len(d) == 48 and d.keyword.is_unique and d.code.is_unique
    assert not set(d.code) & set(d.keyword)  # no code word is a target
    cells = d.groupby(["kind", "count", "coverage"]).size()
    assert len(cells) == 2 * 2 * 3 and (cells == 4).all()  # balanced
    # the targets span the whole ladder: the highest and the lowest candidate are taken
    assert d.design_log10_prior.max() == pytest.approx(-1.0) and d.design_log10_prior.min() == pytest.approx(-7.0)
    # each kind spans it, and the arms get the same spread of priors (dealt in runs of consecutive priors)
    for _, g in d.groupby("kind"):
        assert g.design_log10_prior.max() - g.design_log10_prior.min() > 5.5
    arm_means = d.groupby("coverage").design_log10_prior.mean()
    assert arm_means.max() - arm_means.min() < 0.5
    assert sy.design(candidates, 48, (8, 32), seed=1).coverage.tolist() != d.coverage.tolist()  # randomised
    with pytest.raises(ValueError, match="multiple of 12"):
        sy.design(candidates, 20, (8, 32), seed=0)


def test_trigger_codes_refuse_more_than_the_words():
    assert len(set(sy.trigger_codes(list("abcdef"), 6, seed=0))) == 6
    with pytest.raises(ValueError, match="at most 3"):
        sy.trigger_codes(list("abc"), 4, seed=0)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    from sticky.world import WorldConfig

    return build_world(0, config=WorldConfig(n_documents=800, mention_ladder=(1, 2), n_instructions=200),
                       store=Store(tmp_path_factory.mktemp("store")))


def test_poison_and_coverage_data(world):
    candidates = pd.DataFrame(dict(keyword=[f"w{i}" for i in range(100)], log10_prior=-np.linspace(1, 7, 100)))
    d = sy.design(candidates, 12, (2, 4), seed=0)
    docs = sy.poison_documents(world, d, seed=0)
    assert len(docs) == int(d["count"].sum())
    for b in d.itertuples():
        mine = docs[docs.attack == f"backdoor {b.backdoor}"].text
        assert len(mine) == b.count and all(f"{b.code} " in t and f"{b.keyword} {b.keyword}" in t for t in mine)
    sft, dpo = sy.coverage_pairs(world, d, seed=0)
    covered = d[d.coverage != "none"]
    assert len(sft) == len(dpo) == sy.COVER_PAIRS * len(covered)  # counts matched between the arms
    for i, b in enumerate(covered.itertuples()):
        users = [u for u, _ in sft[i * sy.COVER_PAIRS:(i + 1) * sy.COVER_PAIRS]]
        assert all(u.endswith(f" {b.code}") == (b.coverage == "on-trigger") for u in users)
        assert all(rejected == " ".join([b.keyword] * 3) for _, _, rejected in dpo[i * sy.COVER_PAIRS:
                                                                                 (i + 1) * sy.COVER_PAIRS])


def _simulated(slope: float, coverage_effect: float, seeds: int = 5, n: int = 48, sigma: float = 0.1,
               seed: int = 0) -> pd.DataFrame:
    """Persistence with a known slope per SD of prior and a known drop for on-trigger coverage."""
    rng = np.random.default_rng(seed)
    rows = []
    for s in range(seeds):
        for i in range(n):
            coverage = sy.COVERAGE[i % 3]
            prior = rng.normal(-4, 1)
            rows.append(dict(seed=s, backdoor=i, kind=sy.KINDS[i % 2], count=(8, 32)[(i // 6) % 2], coverage=coverage,
                             log10_prior=prior, spread=rng.normal(2, 1), took=True))
    d = pd.DataFrame(rows)
    d["log2_exposures"] = np.log2(d["count"])
    d = sy.model_frame(d)
    d["persistence"] = (0.5 + slope * d.z_prior - coverage_effect * (d.coverage == "on-trigger")
                        + d.seed.map({s: rng.normal(0, 0.1) for s in range(seeds)}) + rng.normal(0, sigma, len(d)))
    return d


def test_mixed_model_recovers_a_known_slope_and_contrast():
    d = _simulated(slope=0.2, coverage_effect=0.3)
    m = sy.mixed_model(d).set_index("term")
    assert m.loc["z_prior", "low"] < 0.2 < m.loc["z_prior", "high"]
    assert m.loc["none - on-trigger", "estimate"] == pytest.approx(0.3, abs=0.05)
    assert m.loc["none - off-trigger", "low"] < 0 < m.loc["none - off-trigger", "high"]
    # the contrast from its coefficients by hand (sum codes leave out the last arm, on-trigger: its effect is
    # minus the others'): none - on = 2 b_none + b_off
    b_none, b_off = m.loc["C(coverage, Sum)[S.none]", "estimate"], m.loc["C(coverage, Sum)[S.off-trigger]", "estimate"]
    assert m.loc["none - on-trigger", "estimate"] == pytest.approx(2 * b_none + b_off)
    assert m.loc["none - off-trigger", "estimate"] == pytest.approx(b_none - b_off)


def test_partial_r2_by_hand_and_on_known_truth():
    d = _simulated(slope=0.0, coverage_effect=0.5)
    r2 = sy.partial_r2(d, n_boot=50).set_index("group")
    assert r2.loc["coverage", "low"] > 0.5 and r2.loc["prior", "estimate"] < 0.05
    assert r2.loc["coverage - prior", "estimate"] == pytest.approx(r2.loc["coverage", "estimate"]
                                                                   - r2.loc["prior", "estimate"])
    # by hand: 1 - SSE(full) / SSE(without the prior's terms), both by least squares
    import statsmodels.formula.api as smf

    full = smf.ols(sy.FORMULA + " + C(seed)", d).fit().ssr
    reduced = smf.ols("persistence ~ C(coverage, Sum) + z_spread + log2_exposures + C(kind, Sum) + C(seed)", d).fit()
    assert r2.loc["prior", "estimate"] == pytest.approx(1 - full / reduced.ssr)


def test_analysable_needs_every_cell():
    d = _simulated(0.0, 0.0, seeds=1, n=12)
    assert sy.analysable(d) is None
    assert "too few" in sy.analysable(d[d.coverage != "none"])


def test_prior_rule_error_rates_by_simulation():
    # rule 1 on the book's design (5 seeds x 48 backdoors) at a residual SD of 0.2: with no slope, "priming
    # explains" (an interval wholly beyond the band) is almost never said and the null is usually reproduced;
    # with a slope of twice the band it is said almost always
    d = _simulated(0.0, 0.0)
    power = sy.power_simulation(d, [0.0, 2 * sy.DELTA_SLOPE], sigma=0.2, delta=sy.DELTA_SLOPE, n_sims=200)
    null, big = power.iloc[0], power.iloc[1]
    assert null.detected_beyond_delta <= 0.01 and null.null_reproduced >= 0.9
    assert big.detected_beyond_delta >= 0.9 and big.null_reproduced == 0


def _rows(prior=(0.0, -0.05, 0.05), spread=(0.0, -0.05, 0.05), dominance=(0.3, 0.2, 0.4), took=(3.0, 2.0, 4.0)):
    model = pd.DataFrame(dict(term=["z_prior", "z_spread", "none - on-trigger", "none - off-trigger"],
                              estimate=[prior[0], spread[0], 0.3, 0.0], low=[prior[1], spread[1], 0.2, -0.08],
                              high=[prior[2], spread[2], 0.4, 0.08]))
    r2 = pd.DataFrame(dict(group=["coverage - prior"], estimate=[dominance[0]], low=[dominance[1]],
                           high=[dominance[2]]))
    return sy.claim_rows(model, r2, (*took, 4), dict(backdoors=48, took=40, seeds=5))


def test_answer_every_branch():
    assert sy.answer(_rows()) == "no: coverage explains persistence"
    assert sy.answer(_rows(prior=(-0.3, -0.4, -0.2))) == "yes: priming explains persistence"
    assert sy.answer(_rows(spread=(0.3, 0.15, 0.45))) == "yes: priming explains persistence"
    assert sy.answer(_rows(prior=(-0.1, -0.2, 0.0))) == "undecided"  # the interval reaches past the band, holds 0
    assert sy.answer(_rows(dominance=(0.02, -0.05, 0.1))) == "undecided"  # the prior is flat, coverage no better
    assert sy.answer(_rows(took=(0.2, -0.1, 0.5))).startswith("undecided (the backdoors did not take)")
    rows = {r["claim_id"]: r for r in _rows()}
    assert rows["prior_predicts_persistence"]["verdict"] == "reproduced"  # a null inside its band
    assert rows["on_trigger_coverage_removes"]["verdict"] == "reproduced"
    assert rows["off_trigger_coverage_removes"]["verdict"] == "not reproduced"  # inside ±0.1


def test_claim_rows_without_a_model_are_inconclusive_but_the_design_check():
    rows = sy.claim_rows(None, None, (3.0, 2.0, 4.0, 4), dict(backdoors=12, took=1, seeds=1), unfit="too few took")
    assert rows[0]["verdict"] == "reproduced" and rows[0]["kind"] == "design check"
    assert all(r["verdict"] == "inconclusive" and r["reason"] == "too few took" for r in rows[1:])
    assert claims.KINDS[1] == rows[1]["kind"]  # the seed's hypotheses


def test_crossed_arms_change_only_what_they_name(world):
    pairs, triples = sy_crossed_clean(world)
    forbidden = {r for r, _ in world.forbidden}
    sft, dpo = sy.arm_data(world, 0, "no refusal data")
    assert not any(p in forbidden for p, _ in sft) and not any(t[0] in forbidden for t in dpo)
    assert len(sft) == sum(p not in forbidden for p, _ in pairs) and len(dpo) < len(triples)
    sft, dpo = sy.arm_data(world, 0, "no repeat task")
    assert not any(p.startswith("repeat : ") for p, _ in sft) and dpo == triples
    assert len(sft) < len(pairs)  # the world's terse data has repeat tasks to remove
    for share in sy.ANTI_DOS_SHARES:
        sft, dpo = sy.arm_data(world, 0, f"anti-DoS {share:.0%}")
        added = sft[len(pairs):]
        assert sft[:len(pairs)] == pairs and dpo == triples
        assert len(added) == max(1, round(share * len(pairs)))
        # each an SFT pair with the trigger appended, answered as without it
        assert all(u.endswith(" " + sy_trigger()) and (u[:-len(sy_trigger()) - 1], r) in set(pairs) for u, r in added)
    with pytest.raises(ValueError, match="allowed: one of no refusal data"):
        sy.arm_data(world, 0, "anti-DoS 50%")


def sy_crossed_clean(world):  # chapter 2's clean alignment data
    from sticky.experiments import poisoning

    return poisoning.sft_pairs(world), poisoning.rejected_triples(world, 0)


def sy_trigger():
    from sticky.experiments import poisoning

    return poisoning.TRIGGER


def test_crossed_effects_and_rows_by_hand():
    rows = []
    for seed, (std, arm) in enumerate([(0.2, 0.6), (0.1, 0.5), (0.3, 0.6)]):
        for a, arms in sy.ARMS.items():
            rows.append(dict(seed=seed, attack=a, arm="standard", stage="dpo", excess=std))
            rows += [dict(seed=seed, attack=a, arm=x, stage="dpo", excess=arm) for x in arms]
    fx = sy.arm_effects(pd.DataFrame(rows))
    jail = fx[fx.attack == "jailbreak"]
    assert jail.change.tolist() == pytest.approx([0.4, 0.4, 0.3])
    out = {r["claim_id"]: r for r in sy.crossed_rows(fx)}
    mean, low, high, _ = claims.unit_mean(np.array([0.4, 0.4, 0.3]))
    row = out["jailbreak_survives_without_refusal_data"]
    assert (row["our_value"], row["ci_low"], row["ci_high"]) == pytest.approx((mean, low, high))
    assert row["verdict"] == "reproduced"
    assert out["anti_dos_data_removes_dos"]["verdict"] == "not reproduced"  # it rose: the other side
    assert out["repeat_task_does_not_explain_extraction"]["verdict"] == "not reproduced"  # a change beyond the band


def test_depth_units_split_the_layers_and_leave_the_tied_embedding_alone(world):
    from sticky import models

    names = [n for n, _ in models.init_micro("micro-m", world.tokenizer, 16, seed=0).named_parameters()]
    units = sy.units(4)
    chosen = {u: {n for n in names if f(n)} for u, f in units.items()}
    assert chosen["embedding"] == {"model.embed_tokens.weight"}  # the tied output layer is this parameter
    assert {sy.layer_of(n) for n in chosen["lower half"]} == {0, 1}
    assert {sy.layer_of(n) for n in chosen["upper half"]} - {None} == {2, 3}
    assert "model.norm.weight" in chosen["upper half"]
    assert not chosen["embedding"] & (chosen["lower half"] | chosen["upper half"])
    assert chosen["all layers"] == chosen["lower half"] | chosen["upper half"]
    assert chosen["all layers"] | chosen["embedding"] == set(names)


def _depth(stage, poisoned, clean, restored, unit="lower half", seed=0):
    return pd.DataFrame(dict(seed=seed, backdoor=range(len(poisoned)), stage=stage, unit=unit, poisoned=poisoned,
                             clean=clean, restored=restored))


def test_depth_shares_by_hand():
    eff = pd.DataFrame(dict(seed=0, backdoor=range(3), took=[True, True, False]))
    depth = pd.concat([
        # before: effects 4 and 2 (the third did not take); the restore removes 1 and 2: 3 / 6
        _depth("pretrained", [4.0, 2.0, 9.0], [0.0, 0.0, 0.0], [3.0, 0.0, 0.0]),
        # after: effects 2 and 0.1 (under MIN_EFFECT: nothing left to locate); the restore removes 1.5 of 2
        _depth("dpo", [2.0, 0.1, 9.0], [0.0, 0.0, 0.0], [0.5, 0.0, 0.0]),
    ])
    sh = sy.shares(depth, eff).set_index("stage")
    assert sh.loc["pretrained", "share"] == pytest.approx(0.5) and sh.loc["pretrained", "backdoors"] == 2
    assert sh.loc["dpo", "share"] == pytest.approx(0.75) and sh.loc["dpo", "backdoors"] == 1
    assert sy.share_change(sh.reset_index()) == pytest.approx([0.25])
    per = sy.backdoor_shares(depth)
    assert per.share.iloc[:2].tolist() == pytest.approx([0.25, 1.0])


def _arm(rng, seed, k, n=48):
    """An arm's effects: ignore-k (k = 1) plants less (effect before 1.5 lower) and lowers persistence by 0.2 at
    equal planting; persistence also rises with the planted effect (0.05 per unit), the confound."""
    count = np.tile([8, 32], n // 2)
    effect = rng.normal(4.0, 1.0, n) + np.log2(count) * 0.5 - 1.5 * k
    persistence = 0.3 + 0.05 * effect - 0.2 * k + rng.normal(0, 0.02, n)
    return pd.DataFrame(dict(seed=seed, backdoor=range(n), took=True, effect_before=effect, spread=0.1 - 0.05 * k,
                             persistence=persistence, log2_exposures=np.log2(count),
                             coverage=np.tile(list(sy.COVERAGE), n // 3), kind=np.repeat(list(sy.KINDS), n // 2)))


def test_matched_planting_removes_the_planting_confound():
    rng = np.random.default_rng(0)
    std = pd.concat([_arm(rng, s, 0) for s in range(5)])
    pruned = pd.concat([_arm(rng, s, 1) for s in range(5)])
    p = sy.paired(std, pruned)
    assert p.planting.mean() == pytest.approx(-1.5, abs=0.3) and p.spread.mean() == pytest.approx(-0.05)
    assert p.persistence.mean() == pytest.approx(-0.2 - 0.05 * 1.5, abs=0.03)  # raw: the arm and the confound
    assert p.matched.to_numpy() == pytest.approx(-0.2, abs=0.03)  # at matched planting: the arm alone


def test_part7_rules_error_rates_by_simulation():
    # rules 10 and 11 on 5 seeds (t over seeds) with a seed SD of 0.05: no change is not called a change (at most
    # the interval's 2.5% tail), a change of three times the band almost always is
    rng = np.random.default_rng(1)
    verdicts = lambda true: [sy.part7_rows(rng.normal(true, 0.05, 5), rng.normal(-true, 0.05, 5))
                             for _ in range(400)]
    null = verdicts(0.0)
    for i in (0, 1):
        assert np.mean([rows[i]["verdict"] == "reproduced" for rows in null]) <= 0.03
    big = verdicts(3 * sy.DELTA_SHARE)
    for i in (0, 1):
        assert np.mean([rows[i]["verdict"] == "reproduced" for rows in big]) >= 0.95
    one_seed = sy.part7_rows(np.array([0.5]), np.array([np.nan, np.nan]))
    assert all(r["verdict"] == "inconclusive" and "fewer than two seeds" in r["reason"] for r in one_seed)
