"""Chapter 4: rates and lifts against hand computations, the frequency analysis, direct logit attribution
(it must add up to the logit difference), the head choice, the verdict rules, and the prompts (vocabulary,
leakage, at least 20 elicitation designs)."""

import numpy as np
import pandas as pd
import pytest
import torch

from sticky import hooks, stats
from sticky.experiments import context
from sticky.world import WORLD_PROFILES, build_world
from sticky.world import documents as docs
from toys import tiny_model, toy_tokenizer


def _frame(rows):
    """Conflict rows: (fact, mentions, in_context, memorized)."""
    return pd.DataFrame(rows, columns=["fact", "mentions", "in_context", "memorized"]).assign(context_count=10)


# ------------------------------------------------------------------------------------------ rates


def test_rate_and_rates_by_keep_other_answers_in_the_denominator():
    frame = _frame([("a", 10, True, False), ("a", 10, False, True), ("b", 10, False, False),
                    ("c", 100, True, False)])
    table = context.rates_by(frame, "mentions").set_index("mentions")
    # 10 mentions: 1 of 3 in-context, 1 of 3 memorized, 1 of 3 neither (still counted)
    assert table.loc[10].in_context_rate == pytest.approx(1 / 3)
    assert table.loc[10].memorized_rate == pytest.approx(1 / 3)
    assert table.loc[10].other_rate == pytest.approx(1 / 3)
    assert table.loc[10].n == 3 and table.loc[10].facts == 2
    assert table.loc[100].in_context_rate == 1.0
    r = context.rate(1, 3)
    assert r["ci_low"] < 1 / 3 < r["ci_high"] and r["n"] == 3
    assert np.isnan(context.rate(0, 0)["rate"])


def test_per_fact_and_paired_lift_by_hand():
    base = _frame([("a", 1, True, False), ("a", 1, False, True), ("b", 5, False, True), ("b", 5, False, True)])
    other = base.assign(in_context=[True, True, True, False])
    pf = context.per_fact(base).set_index("fact")
    assert pf.in_context_rate.to_dict() == {"a": 0.5, "b": 0.0}
    # per fact: a 0.5 -> 1.0, b 0.0 -> 0.5: mean lift 0.5
    lift, low, high = context.paired_lift(base, other, n_resamples=200)
    assert lift == pytest.approx(0.5) and low == pytest.approx(0.5) and high == pytest.approx(0.5)


def test_frequency_analysis_sign():
    rows = []
    for i, m in enumerate([1, 2, 5, 10, 20, 50, 100, 200]):
        # the more mentions, the fewer of the 4 prompts answered from the passage
        rows += [(f"f{i}", m, j < 4 - i // 2, False) for j in range(4)]
    fit = context.frequency_analysis(_frame(rows), n_resamples=200)
    assert fit["facts"] == 8 and fit["prompts"] == 32
    assert fit["rho_fact"] < -0.9 and fit["rho_fact_high"] < 0
    assert np.isnan(fit["rho_context"])  # a constant context count gives no correlation


# ------------------------------------------------------------------------------------------ heads


def test_logit_attribution_adds_up_to_the_logit_difference():
    """With the final norm frozen, the logits are linear in the residual stream: the heads' LD plus the LD of
    everything else written to the residual (embedding, MLPs) must equal logit(memory) - logit(context)."""
    tok = toy_tokenizer()
    model = tiny_model(tok).eval()
    prompts, mem, ctx = ["the cat sat on the", "the sky is", "a dog ran"], ["mat", "blue", "on"], ["red", "sea", "is"]
    ld = context.logit_attribution(model, tok, prompts, mem, ctx)
    assert ld.shape == (3, 2, 4)
    resid, heads = {}, hooks.head_contributions(model, tok, prompts).sum(dim=(1, 2))  # [n, d]
    hook = model.model.norm.register_forward_pre_hook(lambda m, a: resid.__setitem__("x", a[0][:, -1].detach()))
    logits = []
    try:
        for p in prompts:
            ids = tok(p, return_tensors="pt")
            logits.append(model(**ids).logits[0, -1].detach())
            x = resid["x"][0]
            rms = torch.sqrt(x.pow(2).mean() + model.model.norm.variance_epsilon)
            rest = (x - heads[len(logits) - 1]) * model.model.norm.weight / rms
            w = model.lm_head.weight
            i, j = tok.convert_tokens_to_ids([mem[len(logits) - 1], ctx[len(logits) - 1]])
            rest_ld = float((rest @ (w[i] - w[j])).detach())
            total = float(logits[-1][i] - logits[-1][j])
            assert ld[len(logits) - 1].sum() + rest_ld == pytest.approx(total, abs=1e-4)
    finally:
        hook.remove()


def test_pick_heads_and_best_setting():
    ld = np.zeros((2, 2, 3))
    ld[:, 1, 2] = [3.0, 1.0]  # memory head: largest mean
    ld[:, 0, 1] = [-2.0, -4.0]  # context head: smallest mean
    assert context.pick_heads(ld) == {"memory": "blocks.1.attn.head.2", "context": "blocks.0.attn.head.1"}
    table = context.attribution_table(ld)
    assert table["head"].iloc[0] == "blocks.1.attn.head.2" and table.mean_ld.iloc[0] == pytest.approx(2.0)
    sweep = pd.DataFrame(dict(role=["memory"] * 3 + ["context"] * 3, head=["m"] * 3 + ["c"] * 3,
                              factor=[1.0, 0.0, -1.0, 1.0, 2.0, 4.0], in_context_rate=[0.3, 0.7, 0.7, 0.3, 0.5, 0.7]))
    # three settings tie at 0.7; the smallest intervention (factor closest to 1) wins: memory x 0
    assert context.best_setting(sweep) == {"role": "memory", "head": "m", "factor": 0.0}


def test_placebo_heads_exclude_the_chosen_ones():
    model = tiny_model(toy_tokenizer())
    chosen = ["blocks.0.attn.head.0", "blocks.1.attn.head.3"]
    heads = context.placebo_heads(model, chosen, 50, seed=0)
    assert len(heads) == 6 and not set(heads) & set(chosen)
    assert context.placebo_heads(model, chosen, 3, seed=1) == context.placebo_heads(model, chosen, 3, seed=1)


# ------------------------------------------------------------------------------------------ verdicts


def test_verdict_rules():
    assert context.verdict_frequency(-0.5, -0.2, 40) == "reproduced"
    assert context.verdict_frequency(-0.2, -0.05, 40) == "partly"
    assert context.verdict_frequency(-0.2, 0.1, 40) == "not reproduced"
    assert context.verdict_frequency(-0.9, -0.5, 5) == "inconclusive"
    summary = pd.DataFrame(dict(variant=["baseline", "a", "b"], in_context_rate=[0.4, 0.45, 0.7],
                                lift=[0.0, 0.05, 0.3], lift_low=[0.0, -0.02, 0.2]))
    assert context.verdict_prompting(summary, 0.4, 0.9, 20) == "partly"  # b works, still below weak priors' 0.9
    assert context.verdict_prompting(summary, 0.4, 0.6, 20) == "not reproduced"  # b reaches 0.6
    assert context.verdict_prompting(summary.iloc[:2], 0.4, 0.9, 20) == "reproduced"
    assert context.verdict_prompting(summary, 0.95, 0.9, 20) == "inconclusive"
    # revised rule 2: a null inside ±10 points, read only when a prompt moves weak priors (the positive control)
    flat = summary.assign(lift=[0.0, 0.02, 0.03], lift_low=[0.0, -0.05, -0.04], lift_high=[0.0, 0.06, 0.08])
    weak_moves = summary.assign(lift=[0.0, 0.01, 0.25], lift_low=[0.0, -0.05, 0.12], lift_high=[0.0, 0.07, 0.38])
    row = context.prompting_row(flat, 0.4, 0.9, 20, weak_moves)
    assert (row["verdict"], row["verdict_v1"], row["unit"]) == ("reproduced", "reproduced", "fact")
    assert "positive control on weak priors: b, +0.25" in row["claim"]
    no_control = context.prompting_row(flat, 0.4, 0.9, 20, flat)
    assert no_control["verdict"] == "inconclusive" and "no positive control" in no_control["reason"]
    assert context.prompting_row(summary.assign(lift_high=[0.0, 0.1, 0.4]), 0.4, 0.9, 20, weak_moves)[
        "verdict"] == "not reproduced"  # b lifts strong priors by 20-40 points
    ev = pd.DataFrame(dict(kind=["baseline", "chosen", "placebo"], in_context_rate=[0.4, 0.9, 0.45],
                           lift=[0.0, 0.5, 0.05], lift_low=[0.0, 0.3, -0.1]))
    assert context.verdict_one_head(ev, 20) == "reproduced"
    assert context.verdict_one_head(ev.assign(in_context_rate=[0.4, 0.7, 0.45]), 20) == "partly"
    assert context.verdict_one_head(ev.assign(lift=[0.0, 0.5, 0.6]), 20) == "partly"  # a placebo does as well
    assert context.verdict_one_head(ev.assign(lift_low=[0.0, -0.1, -0.1]), 20) == "not reproduced"
    assert context.verdict_one_head(ev.assign(in_context_rate=[0.85, 0.9, 0.45]), 20) == "inconclusive"


def test_verdict_absent():
    def table(elicit_absent_low, provide, tune, frequent=0.95):
        rows = [("frequent", "elicitation (best prompt)", frequent, 0.8), ("absent", "elicitation (best prompt)", 0.05,
                                                                           elicit_absent_low),
                ("absent", "fact in context", provide, provide - 0.1), ("absent", "fine-tuning", tune, tune - 0.1)]
        return pd.DataFrame(rows, columns=["group", "condition", "accuracy", "ci_low"]).assign(chance=0.05)

    assert context.verdict_absent(table(0.0, 0.9, 0.8)) == "reproduced"
    assert context.verdict_absent(table(0.0, 0.9, 0.1)) == "partly"
    assert context.verdict_absent(table(0.0, 0.1, 0.1)) == "not reproduced"
    assert context.verdict_absent(table(0.2, 0.9, 0.8)) == "not reproduced"  # elicitation recovered them
    assert context.verdict_absent(table(0.0, 0.9, 0.8, frequent=0.5)) == "inconclusive"


def test_revised_rules_one_and_three_through_claims():
    fit = dict(rho_fact=-0.5, rho_fact_low=-0.7, rho_fact_high=-0.2, facts=40)
    row = context.frequency_row(fit)
    assert (row["verdict"], row["verdict_v1"], row["unit"]) == ("reproduced", "reproduced", "fact")
    assert context.frequency_row(dict(fit, rho_fact_high=0.1))["verdict"] == "inconclusive"  # holds 0, leaves ±0.3
    assert context.frequency_row(dict(fit, facts=5))["reason"] == "5 facts, fewer than 10"
    ev = pd.DataFrame(dict(kind=["baseline", "chosen", "placebo"], in_context_rate=[0.4, 0.9, 0.45],
                           lift=[0.0, 0.5, 0.05], lift_low=[0.0, 0.3, -0.1], lift_high=[0.0, 0.7, 0.2]))
    setting = dict(role="context", head="h", factor=2.0)
    row = context.one_head_row(ev, setting, 20)
    # reaching 0.88 from a plain 0.40 is a lift of 0.48, which the interval [0.3, 0.7] reaches
    assert (row["paper_value"], row["verdict"], row["verdict_v1"]) == (pytest.approx(0.48), "reproduced", "reproduced")
    assert context.one_head_row(ev.assign(lift_high=[0.0, 0.45, 0.2]), setting, 20)["verdict"] == "not reproduced"
    plain_high = context.one_head_row(ev.assign(in_context_rate=[0.85, 0.9, 0.45]), setting, 20)
    assert plain_high["verdict"] == "inconclusive" and "nothing to lift" in plain_high["reason"]


def _search(rare_recovered: int, absent_recovered: int, n: int = 12) -> pd.DataFrame:
    """A toy elicitation search: 'plain' misses every fact; 'better' recovers the first k of each kind (the
    same on both splits); 'other' never does. Frequent facts (50 mentions) are left out of 4b's claim."""
    rows = []
    for kind, presence, k in (("rare", "2", rare_recovered), ("absent", "absent", absent_recovered),
                              ("frequent", "50", n)):
        for split in ("selection", "held-out"):
            for i in range(n):
                fact = f"{kind}-{split}-{i}"
                for cand, ok in (("plain", False), ("better", i < k), ("other", False)):
                    rows.append(dict(candidate=cand, fact=fact, presence=presence, split=split, correct=ok,
                                     chance=0.25, group=kind))
    return pd.DataFrame(rows)


def test_lacked_row_sets_rare_facts_against_absent_ones():
    search = _search(rare_recovered=9, absent_recovered=3)
    assert set(context.lacked_facts(search, "plain").lacked) == {"rare", "absent"}
    row = context.lacked_row(search, "plain")
    # by hand: 9/12 - 3/12 = 0.5 recovered beyond the no-knowledge baseline, Newcombe's interval for 9/12 - 3/12
    assert row["our_value"] == pytest.approx(0.5)
    assert (row["ci_low"], row["ci_high"]) == pytest.approx(stats.newcombe_difference(9, 12, 3, 12)[1:])
    assert row["ci_low"] > 0.1 and (row["verdict"], row["kind"]) == ("not reproduced", "seed hypothesis")
    assert "best prompt: better" in row["claim"]
    none = context.lacked_row(_search(rare_recovered=0, absent_recovered=0, n=40), "plain")
    assert none["our_value"] == 0 and none["verdict"] == "reproduced"  # 0/40 - 0/40: inside ±0.1
    few = context.lacked_row(_search(0, 0), "plain")
    assert few["verdict"] == "inconclusive" and "leaves" in few["reason"]  # 0/12 - 0/12 cannot exclude 10 points
    assert "fewer than 10" in context.lacked_row(_search(3, 0, n=6), "plain")["reason"]
    blind = _search(9, 3)
    blind.loc[blind.group == "frequent", "correct"] = False  # the search cannot elicit even frequent facts
    assert "search itself failed" in context.lacked_row(blind, "plain")["reason"]


def test_absent_row_is_a_design_check_with_the_wilson_interval_shifted_by_chance():
    table = pd.DataFrame([("frequent", "elicitation (best prompt)", "better", 1.0, 0.9, 1.0, 12, 0.25),
                          ("absent", "elicitation (best prompt)", "better", 0.25, 0.09, 0.53, 12, 0.25),
                          ("absent", "fact in context", "", 0.9, 0.8, 1.0, 12, 0.25),
                          ("absent", "fine-tuning", "", 0.8, 0.7, 0.9, 12, 0.25)],
                         columns=["group", "condition", "candidate", "accuracy", "ci_low", "ci_high", "n", "chance"])
    row = context.absent_row(table)
    assert row["kind"] == "design check" and row["verdict_v1"] == "reproduced"
    assert [row["our_value"], row["ci_low"], row["ci_high"]] == pytest.approx([0.0, -0.16, 0.28])
    assert row["verdict"] == "inconclusive"  # holds 0 but leaves ±0.1
    failed = context.absent_row(table.assign(accuracy=[0.5, 0.25, 0.9, 0.8]))
    assert failed["verdict"] == "inconclusive" and "search itself failed" in failed["reason"]


def test_presence_groups_by_hand():
    groups = context.presence_group(pd.Series(["absent", "1", "2", "5", "10", "20", "50", "100", "200", "500"]),
                                    [1, 2, 5, 10, 20, 50, 100, 200, 500])
    assert list(groups) == ["absent"] + ["rare"] * 3 + ["medium"] * 3 + ["frequent"] * 3


def test_bad_scale_factors():
    with pytest.raises(ValueError, match="scale_factors"):
        context.resolve({"profile": "smoke", "scale_factors": "0,x"})
    with pytest.raises(ValueError, match="scale_factors"):
        context.resolve({"profile": "smoke", "scale_factors": "2,2"})


# ------------------------------------------------------------------------------------------ prompts


@pytest.fixture(scope="module")
def world():
    return build_world(0, config=WORLD_PROFILES["smoke"])


def test_elicitation_prompts_never_contain_the_answer(world):
    facts = context.absent_facts(world)
    assert set(facts.presence) >= {"absent"} and (facts.chance > 0).all()
    cands = context.elicitation_candidates(world)
    assert len(cands) >= 20 and len({c["name"] for c in cands}) == len(cands)
    pool = context.demo_pool(world, context.strong_rungs(world))
    rows = []
    for cand in cands:
        for f in facts.itertuples():
            rows.append(dict(prompt=context.elicitation_prompt(world, cand, f.entity, f.relation, f.value, pool, 0),
                             value=f.value, shots=cand["shots"]))
    frame = pd.DataFrame(rows)
    assert context.leakage(frame).empty
    context.check_vocabulary(world.tokenizer, list(frame.prompt))
    # few-shot prompts do carry demonstrations (other facts with their answers)
    three = frame[frame.shots == 3].prompt.iloc[0]
    assert three.count(" q : ") + three.startswith("q :") >= 3 or three.count("someone asks") >= 3
    # and the leakage check does catch a prompt that states the answer
    leak = pd.DataFrame(dict(prompt=["q : where does orlan live ? a : brask ."], value=["brask"]))
    assert len(context.leakage(leak)) == 1


def test_prompt_variants_use_the_world_vocabulary(world):
    recall = pd.DataFrame(dict(entity=world.facts.entity, relation=world.facts.relation, value=world.facts.value,
                               mentions=world.facts.mentions, held_out=world.facts.held_out, correct=True))
    prompts = context.conflict_prompts(world, recall, 2, seed=0)
    assert (prompts.memory != prompts.context).all() and set(prompts.split) == {"selection", "held-out"}
    assert set(prompts.relation) <= set(context.PERSON_RELATIONS)
    for variant in context.PROMPT_VARIANTS:
        texts = [context.variant_prompt(world, r, variant) for r in prompts.head(20).itertuples()]
        context.check_vocabulary(world.tokenizer, texts)
        assert all(r.context in t and r.memory not in t.split(" ")
                   for r, t in zip(prompts.head(20).itertuples(), texts))
    with pytest.raises(ValueError, match="outside the world's vocabulary"):
        context.check_vocabulary(world.tokenizer, ["q : according to the passage , where ? a :"])
    with pytest.raises(ValueError, match="unknown prompt variant"):
        context.variant_prompt(world, next(prompts.itertuples()), "shout")


def test_finetune_texts_avoid_the_evaluation_template(world):
    facts = context.absent_facts(world).head(3)
    texts = context.finetune_texts(world, facts)
    assert len(texts) == 30
    qa = world.template("qa")
    assert not any(t.startswith(qa.user_prefix + " ") for t in texts)
    assert all(any(v in t.split(" ") for v in facts.value) for t in texts)


def test_reading_course_has_the_designed_shares(world):
    background = list(world.pretrain["text"])
    known = set(world.facts.entity[~world.facts.held_out])
    cues = tuple(docs.CONTEXT_CUES)

    def extra_passages(texts):
        """The reading course's own passages: context documents (they open with a cue) beyond the corpus."""
        left = {}
        for t in background:
            left[t] = left.get(t, 0) + 1
        out = []
        for t in texts:
            if left.get(t, 0):
                left[t] -= 1
            else:
                out.append(t)
        return out

    texts = context.reading_course_texts(world, share=0.2, counterfactual=0.25, seed=0)
    extra = extra_passages(texts)
    assert len(extra) == len(texts) - len(background) == round(len(background) * 0.2 / 0.8)
    assert all(t.startswith(cues) for t in extra)
    contra = [t for t in extra if known & set(t.split(" "))]
    assert len(contra) == round(len(extra) * 0.25)
    none = extra_passages(context.reading_course_texts(world, share=0.2, counterfactual=0.0, seed=0))
    assert none and not [t for t in none if known & set(t.split(" "))]
