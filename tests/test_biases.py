"""Chapter 3: the bias scores and grouping statistics against hand computations, the planted-document and
probe generators (held-out templates, vocabulary, dials), the gate and verdict rules, and the measurement
path on a tiny model."""

import random
import re
import types

import numpy as np
import pandas as pd
import pytest
import torch
from transformers import LlamaConfig, LlamaForCausalLM

from sticky import stats
from sticky.experiments import biases as B
from sticky.world import documents as docs
from sticky.world import lexicon as lx
from sticky.world import make_tokenizer

# ------------------------------------------------------------------------------------------ scores


def test_choice_score_by_hand():
    assert B.choice_score(0.8, 0.5) == pytest.approx(0.3)
    assert B.choice_score([0.1, 1.0], [0.6, 0.0]).tolist() == pytest.approx([-0.5, 1.0])


def test_ratio_scale_score_by_hand():
    # control answer 6, treatment 9, anchor 12: distances 6 and 3 -> (6 - 3) / 6 = 0.5 toward the anchor
    assert B.ratio_scale_score(6, 9, 12, 12) == pytest.approx(0.5)
    assert B.ratio_scale_score(9, 6, 12, 12) == pytest.approx(-0.5)  # pushed away: (3 - 6) / 6
    assert B.ratio_scale_score(6, 9, 12, 12, k=-1) == pytest.approx(-0.5)
    assert B.ratio_scale_score(4, 4, 4, 4) == 0.0  # both on the anchor: no bias, not nan
    assert B.ratio_scale_score([5, 2], [3, 2], [1, 1], [1, 1]).tolist() == pytest.approx([0.5, 0.0])


def test_option_share_and_expected_value_by_hand():
    assert B.option_share(0.03, 0.01) == pytest.approx(0.75)
    assert B.expected_value(np.array([[0.2, 0.2, 0.6]]), [1, 2, 3]) == pytest.approx([2.4])
    assert B.expected_value(np.array([[0.1, 0.1, 0.3]]), [1, 2, 3]) == pytest.approx([2.4])  # renormalised


def test_scenario_scores_pairs_control_and_treatment():
    items = pd.DataFrame(dict(bias=["framing"] * 2 + ["anchoring"] * 2, scenario=[0, 0, 0, 0],
                              treated=[False, True, False, True], anchor=[np.nan, np.nan, 12, 12]))
    share = np.array([0.4, 0.9, np.nan, np.nan])
    expected = np.array([np.nan, np.nan, 6.0, 9.0])
    out = B.scenario_scores(items, share, expected).set_index("bias")
    assert out.loc["framing", "score"] == pytest.approx(0.5)
    assert out.loc["anchoring", "score"] == pytest.approx(0.5)
    assert out.loc["framing", "control"] == pytest.approx(0.4) and out.loc["anchoring", "treatment"] == 9.0


# ------------------------------------------------------------------------------------------ stats


def test_grouping_scores_by_hand():
    X = np.array([[0.0], [1.0], [10.0], [11.0]])
    g = np.array(["a", "a", "b", "b"])
    # silhouette: points 0 and 11: (10.5 - 1) / 10.5; points 1 and 10: (9.5 - 1) / 9.5
    assert stats.grouping_score(X, g, "silhouette") == pytest.approx((9.5 / 10.5 + 8.5 / 9.5) / 2)
    # Calinski-Harabasz: between SS 100 / (k-1 = 1) over within SS 1 / (n-k = 2) = 200
    assert stats.grouping_score(X, g, "calinski_harabasz") == pytest.approx(200.0)
    # Davies-Bouldin: spreads 0.5 and 0.5, centroids 10 apart -> 0.1
    assert stats.grouping_score(X, g, "davies_bouldin") == pytest.approx(0.1)
    with pytest.raises(ValueError, match="metric"):
        stats.grouping_score(X, g, "dunn")
    with pytest.raises(ValueError, match="groups"):
        stats.grouping_score(X, ["a"] * 4, "silhouette")


def test_grouping_permutation_p_values():
    rng = np.random.default_rng(0)
    X = np.vstack([rng.normal(0, 1, (4, 5)), rng.normal(6, 1, (4, 5))])
    good = np.array([0] * 4 + [1] * 4)
    # 35 distinct balanced splits of 8 rows; only the true one (its label swap is the same split) is as good
    for metric in stats.GROUPING_METRICS:
        value, p = stats.grouping_permutation_test(X, good, metric, n_permutations=2000, seed=1)
        assert 0.012 < p < 0.05, (metric, p)
    bad = np.array([0, 1, 0, 1, 0, 1, 0, 1])
    _, p_bad = stats.grouping_permutation_test(X, bad, "silhouette", n_permutations=500)
    assert p_bad > 0.3


def test_agreement_scores_by_hand_and_p_values():
    # a 2x2 contingency of ones: ARI = (0 - 2*2/6) / (2 - 2*2/6) = -0.5
    ari, _ = stats.agreement_permutation_test([0, 0, 1, 1], [0, 1, 0, 1], "ari", n_permutations=10)
    assert ari == pytest.approx(-0.5)
    same = np.array([0] * 4 + [1] * 4)
    ari, p = stats.agreement_permutation_test(same, 1 - same, "ari", n_permutations=2000, seed=0)
    assert ari == pytest.approx(1.0) and 0.012 < p < 0.05
    nmi, _ = stats.agreement_permutation_test(same, same, "nmi", n_permutations=10)
    assert nmi == pytest.approx(1.0)
    with pytest.raises(ValueError, match="metric"):
        stats.agreement_permutation_test(same, same, "vi")


# ------------------------------------------------------------------------------------------ generators


@pytest.fixture(scope="module")
def vocab():
    return set(make_tokenizer().get_vocab())


PROFILE = {b: 1.0 for b in B.BIASES}


def _pattern(template: str) -> re.Pattern:
    """A regex matching any filling of ``template`` (each placeholder one word, as every filling is)."""
    parts = re.split(r"(\{\w+\})", template)
    return re.compile("".join(r"\S+" if p.startswith("{") else re.escape(p) for p in parts if p))


def test_planted_documents_use_only_world_words_and_never_the_held_out_templates(vocab):
    planted = B.bias_documents(PROFILE, 700, seed=0)
    assert set(planted.bias) == set(B.BIASES) and planted.treated.mean() == pytest.approx(0.5)
    items = B.probe_items(5, seed=0)
    sft = B.instruction_examples(PROFILE, 140, "chatty", 0) + B.instruction_examples(PROFILE, 140, "terse", 0)
    texts = list(planted.text) + list(items.user) + [p + " " + r for p, r in sft]
    assert not {w for t in texts for w in t.split()} - vocab
    for bias in B.BIAS_TYPES.values():
        held = _pattern(bias.probe_question.replace("{story} ", ""))
        stories = [_pattern(t) for pair in bias.stories for t in pair]
        mine = [t for t, b in zip(planted.text, planted.bias) if b == bias.name]
        assert not any(held.search(t) for t in mine + [p for p, _ in sft]), bias.name
        probes = list(items.user[items.bias == bias.name])
        assert all(held.search(u) and any(st.search(u) for st in stories) for u in probes), bias.name
    # the probe templates: "asks" for the backbones, the alignment template for the tuned models
    for marker in (docs.CHAT_TEMPLATES[-1].user_prefix, docs.ALIGNMENT_TEMPLATE.user_prefix):
        assert not any(marker in t for t in planted.text)


def test_planted_answers_follow_the_dial():
    rng = random.Random(0)
    foods = B.common_foods(None)
    for bias in ("framing", "status_quo", "halo"):
        for dial, expect in ((1.0, 1.0), (-1.0, 0.0), (0.0, 0.5)):
            hits = []
            for _ in range(400):
                v = B.fill(bias, rng, foods)
                hits.append(B.planted_answer(bias, v, True, dial, rng) == B.options(bias, v)[0])
            assert np.mean(hits) == pytest.approx(expect, abs=0.08)
        control = [B.planted_answer(bias, v, False, 1.0, rng) == B.options(bias, v)[0]
                   for v in (B.fill(bias, rng, foods) for _ in range(400))]
        assert np.mean(control) == pytest.approx(0.5, abs=0.08)
    # anchoring: a full dial puts every count in the anchor's half of three .. ten
    for _ in range(100):
        v = B.fill("anchoring", rng, foods)
        x = lx.NUMBERS.index(B.planted_answer("anchoring", v, True, 1.0, rng))
        assert (x >= 7) == (v["A"] in B.HIGH_ANCHORS) and 3 <= x <= 10


def test_probe_items_pair_every_scenario():
    items = B.probe_items(5, seed=0)
    assert len(items) == len(B.BIASES) * 5 * 2
    for (bias, j), g in items.groupby(["bias", "scenario"]):
        assert sorted(g.treated) == [False, True] and g.user.nunique() == 2
        assert g.biased.nunique() == 1 and (bias == "anchoring" or g.biased.iloc[0] != g.other.iloc[0])
    anchors = items[items.bias == "anchoring"].anchor
    assert set(anchors) == {1, 2, 11, 12}


def test_instruction_set_dose():
    class W:
        instructions = {"terse": {"prompt": [f"p{i}" for i in range(200)], "response": ["r"] * 200}}
    pairs = B.instruction_set(W, "terse", PROFILE, 0.1, seed=3)
    originals = {f"p{i}" for i in range(200)}
    assert len(pairs) == 200 and sum(p in originals for p, _ in pairs) == 180
    assert B.instruction_set(W, "terse", PROFILE, 0.0, seed=3) == [(f"p{i}", "r") for i in range(200)]


def test_parse_profile_and_bad_input():
    assert B.parse_profile("x", "0.5") == {b: 0.5 for b in B.BIASES}
    text = ",".join(f"{b}={-1 if i % 2 else 1}" for i, b in enumerate(B.BIASES))
    assert B.parse_profile("x", text)["anchoring"] == -1
    for bad in ("2", "framing=1", "nope", ",".join(f"{b}=1" for b in B.BIASES) + ",extra=1"):
        with pytest.raises(ValueError, match="parameter 'x'"):
            B.parse_profile("x", bad)


# ------------------------------------------------------------------------------------------ gate and verdicts


def _scores(means: dict[str, float]) -> pd.DataFrame:
    return pd.DataFrame([dict(bias=b, scenario=j, score=m) for b, m in means.items() for j in range(3)])


def test_gate():
    pa = {b: 1.0 for b in B.BIASES}
    pb = dict(pa, framing=-1.0, anchoring=-1.0, certainty=-1.0, sunk_cost=-1.0)
    sa = _scores({b: 0.3 for b in B.BIASES})
    sb = _scores(dict({b: 0.3 for b in B.BIASES}, framing=-0.2, anchoring=0.0, certainty=0.1, sunk_cost=0.29))
    gate = B.profile_gate({"a": sa, "b": sb}, {"a": pa, "b": pb}, min_diff=0.05)
    assert gate.set_index("bias").agrees.to_dict() == dict(framing=True, anchoring=True, certainty=True,
                                                          status_quo=False, bandwagon=False, halo=False,
                                                          sunk_cost=False)
    assert B.gate_passes(gate)  # 3 of the 4 differing biases
    sb2 = _scores(dict({b: 0.3 for b in B.BIASES}, framing=-0.2, anchoring=0.0))
    assert not B.gate_passes(B.profile_gate({"a": sa, "b": sb2}, {"a": pa, "b": pb}, min_diff=0.05))


def test_verdicts():
    assert B.verdict_grouping(0.2, 0.05, 0.01, True) == "reproduced"
    assert B.verdict_grouping(0.2, 0.05, 0.2, True) == "partly"
    assert B.verdict_grouping(0.05, 0.2, 0.01, True) == "not reproduced"
    assert B.verdict_grouping(0.2, 0.05, 0.01, False) == "inconclusive"
    assert [B.verdict_seeds(r) for r in (0.05, 0.5, 1.5, np.nan)] == ["partly", "reproduced", "not reproduced",
                                                                     "inconclusive"]
    assert [B.verdict_real(*v) for v in ((0.5, 0.4, 0.6), (0.36, 0.1, 0.6), (0.014, 0.005, 0.023),
                                         (-0.3, -0.5, -0.1), (0.1, -0.1, 0.3), (0.5, np.nan, 0.6))] == [
        "reproduced", "reproduced", "partly", "not reproduced", "inconclusive", "inconclusive"]


def test_seed_analysis_by_hand():
    out = B.seed_analysis(_cross_scores()).iloc[0]
    assert out.seed_sd == pytest.approx(0.1) and out.backbone_diff == pytest.approx(0.4)
    assert out.data_diff == pytest.approx(0.1)
    assert B.seed_ratio(B.seed_analysis(_cross_scores())) == pytest.approx(0.25)


def _cross_scores() -> pd.DataFrame:
    """Twelve models on one scenario: backbone A at 0.5, B at 0.1, chatty data +0.1, seeds -0.1 / 0 / +0.1."""
    rows = []
    for backbone, base in (("A", 0.5), ("B", 0.1)):
        for data, shift in (("terse", 0.0), ("chatty", 0.1)):
            for seed, noise in enumerate((-0.1, 0.0, 0.1)):
                rows.append(dict(model=f"{backbone}/{data}/s{seed}", backbone=backbone, data=data, seed=seed,
                                 bias="framing", scenario=0, score=base + shift + noise))
    return pd.DataFrame(rows)


def test_cell_statistics_by_hand():
    scores = _cross_scores()
    # cell means A/terse 0.5, A/chatty 0.6, B/terse 0.1, B/chatty 0.2 (one dimension). A/terse grouped by
    # backbone: a = 0.1 (to A/chatty), b = (0.4 + 0.3) / 2 = 0.35, s = 0.25 / 0.35; by data: a = 0.4 (to
    # B/terse), b = (0.1 + 0.3) / 2 = 0.2, s = (0.2 - 0.4) / 0.4 = -0.5
    sil = B.cell_silhouettes(scores).set_index(["backbone", "data"])
    assert sil.loc[("A", "terse"), "silhouette_backbone"] == pytest.approx(0.25 / 0.35)
    assert sil.loc[("A", "terse"), "silhouette_data"] == pytest.approx(-0.5)
    assert sil.loc[("A", "terse"), "difference"] == pytest.approx(0.25 / 0.35 + 0.5)
    # seed sd 0.1 in every cell, 0.4 from the other backbone's cell with the same data: log2(1/4) = -2
    ratios = B.cell_seed_ratios(scores)
    assert ratios.seed_sd.to_numpy() == pytest.approx([0.1] * 4)
    assert ratios.backbone_diff.to_numpy() == pytest.approx([0.4] * 4)
    assert ratios.log2_ratio.to_numpy() == pytest.approx([-2.0] * 4)


def test_cell_coclustering_by_hand():
    _, labels = B.model_vectors(_cross_scores())
    by_backbone = (labels.backbone == "A").astype(int)
    by_data = (labels.data == "terse").astype(int)
    assert (B.cell_coclustering(labels, by_backbone).difference == 1.0).all()
    assert (B.cell_coclustering(labels, by_data).difference == -1.0).all()
    # one model of A/terse moved to the other cluster: that cell's pairs with A/chatty are together 2 of 3 x 3,
    # with B/terse 1 of 3 x 3
    moved = by_backbone.copy()
    moved.iloc[labels.index[labels.model == "A/terse/s0"][0]] = 0
    cell = B.cell_coclustering(labels, moved).set_index(["backbone", "data"]).loc[("A", "terse")]
    assert (cell.with_backbone, cell.with_data) == (pytest.approx(6 / 9), pytest.approx(3 / 9))


def test_exposure_ratio_tipping_and_direction_cosine_by_hand():
    P = types.SimpleNamespace(sft_steps=200, bias_share=0.05, backbone_steps=400)
    assert B.exposure_ratio(0.1, P) == pytest.approx(1.0)  # 0.1 x 200 bias examples per 0.05 x 400 planted rows
    sweep = pd.DataFrame(dict(exposure=[0.0, 0.5, 1.0], difference=[0.3, -0.1, -0.2]))
    assert B.tipping_exposure(sweep) == 0.5
    assert np.isnan(B.tipping_exposure(sweep.assign(difference=[0.3, 0.2, 0.1])))
    # A - B = 2 on framing, anchoring, certainty, sunk cost; terse - chatty = +2, -2, +2, -2, +2, -2, +2 over
    # the seven dials in order: dot 2 x 2 x (1 - 1 + 1 + 1) = 8, norms 4 and 2 sqrt(7)
    profiles = dict(A=B.PROFILE_A, B=B.PROFILE_B, terse=B.PROFILE_TERSE, chatty=B.PROFILE_CHATTY)
    assert B.direction_cosine(profiles) == pytest.approx(8 / (4 * 2 * np.sqrt(7)))


def test_cell_rows_decide_over_cells():
    scores = _cross_scores()
    X, labels = B.model_vectors(scores)
    analysis = B.grouping_analysis(X, labels, n_permutations=20)
    sil, km = B.grouping_rows(scores, analysis, True, "dose 0")
    assert sil["unit"] == "cell" and "4 cells" in sil["claim"]
    assert sil["our_value"] == pytest.approx(B.cell_silhouettes(scores).difference.mean())
    # every cell gives the same value (a clean split): no spread, no t interval
    if np.ptp(B.cell_coclustering(labels, analysis.attrs["clusters"]).difference) == 0:
        assert km["verdict"] == "inconclusive" and "no spread" in km["reason"]
    failed = B.grouping_rows(scores, analysis, False, "dose 0")
    assert all(r["verdict"] == "inconclusive" and "gate" in r["reason"] for r in failed)
    # rule 3 over cells: log2 = -2 in every cell, no spread
    (seeds,) = B.seed_rows(scores, B.seed_analysis(scores))
    assert seeds["our_value"] == pytest.approx(-2.0) and seeds["verdict"] == "inconclusive"
    assert seeds["verdict_v1"] == "reproduced"  # v1: ratio 0.25 in [0.1, 1)


def test_real_framing_rows_use_a_t_interval_over_scenarios():
    real = pd.DataFrame(dict(model="m", bias="framing", scenario=[0, 1, 2], score=[0.1, 0.2, 0.3]))
    profile = pd.DataFrame([dict(model="m", bias="framing", score=0.2, low=0.1, high=0.3)])
    (r,) = B.real_framing_rows(real, profile)["m"]
    half = 4.302653 * 0.1 / np.sqrt(3)  # t(2) at 97.5%, sd 0.1, three scenarios
    assert (r["ci_low"], r["ci_high"]) == (pytest.approx(0.2 - half, abs=1e-5), pytest.approx(0.2 + half, abs=1e-5))
    assert r["verdict"] == "inconclusive" and r["verdict_v1"] == "partly"


def test_dose_row_is_a_design_check_at_the_largest_dose():
    scores = pd.concat([_cross_scores().assign(dose=0.0), _cross_scores().assign(dose=0.5)])
    P = types.SimpleNamespace(sft_steps=100, bias_share=0.1, backbone_steps=100)
    cells = B.sweep_cells(scores, P)
    assert list(cells.exposure) == [0.0, 5.0] and (cells.cells == 4).all()
    (r,) = B.dose_rows(cells, scores)
    assert r["kind"] == "design check" and r["direction"] == "negative"
    assert "exposure 5" in r["claim"] and "stays above 0" in r["claim"]
    assert r["verdict"] == "not reproduced"  # every cell groups by backbone, far from 0 on the wrong side


def _against_scores(differences_by_dose: dict[float, dict[int, float]]) -> pd.DataFrame:
    """The uncrossed sweep's scores: backbone A scores ``d / 2`` and B ``-d / 2`` on framing and sunk cost (both
    planted A - B = +2), so the signed difference is ``d`` on both; every other bias scores 0.3 on both
    backbones. ``differences_by_dose[dose][seed] = d``."""
    rows = []
    for dose, by_seed in differences_by_dose.items():
        for seed, d in by_seed.items():
            for backbone, sign in (("A", 1), ("B", -1)):
                for bias in B.BIASES:
                    score = sign * d / 2 if bias in ("framing", "sunk_cost") else 0.3
                    rows += [dict(dose=dose, seed=seed, backbone=backbone, bias=bias, scenario=j, score=score)
                             for j in range(2)]
    return pd.DataFrame(rows)


def test_against_rule_reads_signed_differences_at_the_largest_exposure_up_to_one():
    P = types.SimpleNamespace(sft_steps=100, bias_share=0.5, backbone_steps=100, profiles=dict(A=B.PROFILE_A,
                                                                                              B=B.PROFILE_B))
    # exposure = dose x 100 / (0.5 x 100) = 2 dose: doses 0, 0.25, 0.5, 1 give exposures 0, 0.5, 1, 2
    scores = _against_scores({0.0: {0: 0.4, 1: 0.6}, 0.25: {0: 0.3, 1: 0.1}, 0.5: {0: -0.1, 1: -0.3},
                              1.0: {0: -0.5, 1: -0.5}})
    diffs = B.against_differences(scores, P)
    # only the four biases whose dials differ (framing, anchoring, certainty, sunk cost); anchoring and
    # certainty score 0.3 on both backbones, a signed difference of 0
    assert sorted(diffs.bias.unique()) == sorted(["framing", "anchoring", "certainty", "sunk_cost"])
    framing = diffs[diffs.bias == "framing"].set_index("dose")
    assert list(framing.exposure) == [0.0, 0.5, 1.0, 2.0]
    assert list(framing.difference.round(9)) == [0.5, 0.2, -0.2, -0.5] and framing.seeds.eq(2).all()
    assert framing.loc[0.25, "seed_low"] == pytest.approx(0.1) and framing.loc[0.25, "seed_high"] == pytest.approx(0.3)
    flips = B.flip_exposures(diffs)
    # framing: 0.2 at exposure 0.5, -0.2 at 1: zero half way, 0.75; anchoring is 0 already at exposure 0
    assert flips["framing"] == pytest.approx(0.75) and flips["sunk_cost"] == pytest.approx(0.75)
    assert flips["anchoring"] == 0.0
    assert np.isinf(B.flip_exposures(diffs.assign(difference=diffs.difference.abs() + 0.1))["framing"])
    # the rule reads dose 0.5 (exposure 1), not dose 1 (exposure 2): values -0.2, 0, 0, -0.2 over 4 biases
    assert B.opposing_tested(diffs).dose.unique().tolist() == [0.5]
    (r,) = B.against_rows(diffs, True)
    assert r["kind"] == "seed hypothesis" and r["unit"] == "planted bias"
    assert r["our_value"] == pytest.approx(-0.1) and "exposure 1," in r["claim"] and "framing 0.75" in r["claim"]
    from scipy.stats import t

    half_width = t.ppf(0.975, 3) * np.std([-0.2, 0, 0, -0.2], ddof=1) / 2
    assert r["ci_low"] == pytest.approx(-0.1 - half_width) and r["ci_high"] == pytest.approx(-0.1 + half_width)
    # no dose above 0 with exposure <= 1: no test, inconclusive
    (none,) = B.against_rows(diffs[diffs.dose.isin([0.0, 1.0])], True)
    assert none["verdict"] == "inconclusive" and "exposure of at most 1" in none["reason"]
    (gate,) = B.against_rows(diffs, False)  # the same numbers, but nothing was planted that could be kept
    assert gate["verdict"] == "inconclusive" and "gate" in gate["reason"]


# ------------------------------------------------------------------------------------------ measurement path


def test_measure_micro_on_a_tiny_model():
    tok = make_tokenizer()
    config = LlamaConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                         num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=128,
                         bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id)
    torch.manual_seed(0)
    model = LlamaForCausalLM(config).eval()
    items = B.probe_items(5, seed=0)
    out = B.measure_micro(model, tok, items, docs.ALIGNMENT_TEMPLATE)
    assert len(out) == len(B.BIASES) * 5 and out.score.between(-1, 1).all()
    X, labels = B.model_vectors(pd.concat([out.assign(model=f"m{i}", backbone="AB"[i % 2], data="td"[i // 2], seed=0)
                                           for i in range(4)]))
    assert X.shape == (4, len(B.BIASES) * 5) and list(labels.backbone) == ["A", "B", "A", "B"]


def test_resolve_rejects_bad_parameters_in_one_line():
    for bad, name in (({"dose_sweep": "0,2"}, "dose_sweep"), ({"real_models": "gpt-9"}, "real_models"),
                      ({"real_models": "none,gemma-3-270m"}, "real_models"), ({"profile_b": "framing=3"}, "profile_b"),
                      ({"seeds": 1}, "seeds"), ({"scenarios": 4}, "scenarios"),
                      ({"real_backbones": "gemma-3-270m"}, "real_backbones"),
                      ({"real_backbones": "gemma-3-270m,gemma-3-270m"}, "real_backbones"),
                      ({"real_backbones": "micro-m,gemma-3-270m"}, "real_backbones"),
                      ({"real_backbones": "gemma-3-270m,gpt-9"}, "real_backbones")):
        with pytest.raises(ValueError, match=f"parameter '{name}'") as err:
            B.resolve({"profile": "smoke", **bad})
        assert "\n" not in str(err.value) and "allowed" in str(err.value)
    P = B.resolve({"profile": "book"})
    assert P.real == ["smollm2-135m-instruct", "gemma-3-270m"] and P.doses == [0.0, 0.05, 0.3, 0.8]
    assert P.real_backbones == [] and B.resolve({"profile": "paper"}).real_backbones == ["gemma-3-270m",
                                                                                          "smollm2-135m-instruct"]
    assert P.profiles["A"]["framing"] == 1 and P.profiles["chatty"] == {b: -v for b, v in P.profiles["terse"].items()}
