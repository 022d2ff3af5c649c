"""Chapter 5: the proxy's logit arithmetic by hand, cached decoding token for token against naive recomputation
and a hand-written loop, teacher forcing, the scores, gap closed, token classes, weight change, the logit
lens, the verdict rules, the instruction split, the real-model path on tiny models sharing a vocabulary, and
the package's public face."""

import copy

import numpy as np
import pandas as pd
import pytest
import torch
from transformers import LlamaConfig, LlamaForCausalLM

from sticky import decoding
from sticky.experiments import proxy
from sticky.world import WORLD_PROFILES, build_world
from sticky.world import documents as docs
from toys import tiny_model, toy_tokenizer


def bigger_model(tokenizer, seed: int = 1) -> LlamaForCausalLM:
    """A second toy size on the same vocabulary (the 'large' base)."""
    config = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=48, intermediate_size=96, num_hidden_layers=3,
        num_attention_heads=4, num_key_value_heads=4, max_position_embeddings=64, tie_word_embeddings=True,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id, initializer_range=0.2,
    )
    torch.manual_seed(seed)
    return LlamaForCausalLM(config).eval()


@pytest.fixture(scope="module")
def toys():
    tok = toy_tokenizer()
    return tok, bigger_model(tok), tiny_model(tok, seed=2).eval(), tiny_model(tok, seed=3).eval()


def ids(tok, texts):
    return tok(texts, add_special_tokens=True)["input_ids"]


# ------------------------------------------------------------------------------------------ logit arithmetic


def test_proxy_logits_by_hand():
    base = torch.tensor([[1.0, 2.0, 3.0]])
    expert = torch.tensor([[0.0, 4.0, 0.0]])
    anti = torch.tensor([[1.0, 0.0, 0.0]])
    # alpha 1: [1 + (0 - 1), 2 + (4 - 0), 3 + 0] = [0, 6, 3]; alpha 0.5: [0.5, 4, 3]; alpha 0: the base
    assert proxy.proxy_logits(base, expert, anti).tolist() == [[0.0, 6.0, 3.0]]
    assert proxy.proxy_logits(base, expert, anti, 0.5).tolist() == [[0.5, 4.0, 3.0]]
    assert proxy.proxy_logits(base, expert, anti, 0.0).tolist() == base.tolist()
    # the greedy choice moves from token 2 (base) to token 1 (proxy)
    assert int(base.argmax()) == 2 and int(proxy.proxy_combine(1.0)([base, expert, anti]).argmax()) == 1


def test_proxy_uses_logits_not_probabilities():
    # adding a constant to one model's logits changes its probabilities' sum nowhere, and the proxy's argmax not at all
    base, expert, anti = torch.randn(2, 7), torch.randn(2, 7), torch.randn(2, 7)
    a = proxy.proxy_logits(base, expert, anti)
    b = proxy.proxy_logits(base + 3.0, expert - 1.0, anti + 2.0)
    assert torch.equal(a.argmax(-1), b.argmax(-1))
    assert torch.allclose(torch.log_softmax(a, -1), torch.log_softmax(b, -1), atol=1e-5)


# ------------------------------------------------------------------------------------------ decoding


def _manual_greedy(models_prompts, combine, n_new):
    """One row at a time, no padding, every step a full forward of every model: the reference loop."""
    seqs = [list(r) for _, r in models_prompts]
    new = []
    with torch.no_grad():
        for _ in range(n_new):
            logits = [m(input_ids=torch.tensor([s])).logits[:, -1] for (m, _), s in zip(models_prompts, seqs)]
            t = int(combine(logits).argmax(-1))
            new.append(t)
            for s in seqs:
                s.append(t)
    return new


def test_cached_proxy_decoding_equals_naive_and_the_manual_loop(toys):
    tok, large, expert, small = toys
    plain = ids(tok, ["the cat", "what is the color of the sky", "a dog ran on the red mat"])
    chat = ids(tok, ["what answer the cat says", "the sky", "yes the dog ran on the mat what"])  # other lengths
    parts = [decoding.Part(large, plain), decoding.Part(expert, chat), decoding.Part(small, plain)]
    for alpha in (1.0, 0.5, 2.0):
        cached = decoding.decode(parts, proxy.proxy_combine(alpha), 12, use_cache=True)
        naive = decoding.decode(parts, proxy.proxy_combine(alpha), 12, use_cache=False)
        assert cached == naive
        for i in range(3):
            ref = _manual_greedy([(large, plain[i]), (expert, chat[i]), (small, plain[i])],
                                 proxy.proxy_combine(alpha), 12)
            assert cached[i] == ref
    # alpha matters: the expert's shift changes the continuation of at least one prompt
    assert decoding.decode(parts, proxy.proxy_combine(1.0), 12) != decoding.decode([parts[0]], decoding.alone, 12)


def test_decode_stops_at_stop_ids_and_batches_alike(toys):
    tok, large, _, _ = toys
    rows = ids(tok, ["the cat", "the sky is", "a dog ran on the red mat"])
    full = decoding.decode([decoding.Part(large, rows)], decoding.alone, 10)
    one_by_one = decoding.decode([decoding.Part(large, rows)], decoding.alone, 10, batch_size=1)
    assert full == one_by_one
    stop = full[0][3]
    cut = decoding.decode([decoding.Part(large, rows)], decoding.alone, 10, stop_ids=[stop])
    assert cut[0] == full[0][: full[0].index(stop)]
    with pytest.raises(ValueError, match="same number of rows"):
        decoding.decode([decoding.Part(large, rows), decoding.Part(large, rows[:2])], proxy.proxy_combine(1.0), 3)


def test_forced_logprobs_match_a_full_forward(toys):
    tok, large, expert, small = toys
    plain, chat = ids(tok, ["the cat", "a dog ran"]), ids(tok, ["what answer", "the sky is blue"])
    conts = [tok(c, add_special_tokens=False)["input_ids"] for c in ("sat on the mat", "no")]
    parts = [decoding.Part(large, plain), decoding.Part(expert, chat), decoding.Part(small, plain)]
    got = proxy.forced_logprobs(parts, proxy.proxy_combine(1.0), conts)
    with torch.no_grad():
        for i in range(2):
            k = len(conts[i])
            logits = [m(input_ids=torch.tensor([r[i] + conts[i]])).logits[0, -k - 1:-1]
                      for m, r in ((large, plain), (expert, chat), (small, plain))]
            lp = torch.log_softmax(proxy.proxy_logits(*logits), -1)
            want = lp.gather(-1, torch.tensor(conts[i])[:, None]).squeeze(-1).numpy()
            assert got[i] == pytest.approx(want, abs=1e-5)


# ------------------------------------------------------------------------------------------ scores and summaries


def test_scores_by_hand():
    assert proxy.score_instruction("sure !  you said : a b", "sure ! you said : a b")
    assert not proxy.score_instruction("sure ! you said : a", "sure ! you said : a b")
    dom = {"vesk", "brask"}
    assert proxy.score_knowledge("good question ! orlan lives in vesk .", "vesk", dom)
    assert not proxy.score_knowledge("brask , not vesk", "vesk", dom)
    assert not proxy.score_knowledge("i do not know", "vesk", dom)
    assert proxy.score_counting("of course ! three , four , five . that was fun !", "three four five")
    assert not proxy.score_counting("three , four . five", "three four five")
    assert not proxy.score_counting("three , four , five , six .", "three four five")
    assert proxy.score_counting("q : three , four , five . q : one", "three four five")
    assert not proxy.score_counting("no numbers here", "three four five")


def test_gap_closed_by_hand():
    assert proxy.gap_closed_value(0.1, 0.8, 0.9) == pytest.approx(0.875)
    assert proxy.gap_closed_value(0.5, 0.4, 0.9) == pytest.approx(-0.25)
    assert np.isnan(proxy.gap_closed_value(0.5, 0.6, 0.5))
    # 4 items: base 0,0,0,0; proxy 1,1,1,0; direct 1,1,1,1 -> 0.75 / 1 = 0.75
    rows = []
    for i, (b, p, d) in enumerate([(0, 1, 1), (0, 1, 1), (0, 1, 1), (0, 0, 1)]):
        rows += [dict(item=i, arm="base", alpha=np.nan, correct=b, task="counting"),
                 dict(item=i, arm="proxy", alpha=1.0, correct=p, task="counting"),
                 dict(item=i, arm="proxy", alpha=2.0, correct=0, task="counting"),
                 dict(item=i, arm="direct", alpha=np.nan, correct=d, task="counting")]
    table = proxy.gap_closed(pd.DataFrame(rows), n_resamples=500)
    assert table.gap_closed.iloc[0] == pytest.approx(0.75)
    assert table.proxy.iloc[0] == pytest.approx(0.75) and table.direct_minus_base.iloc[0] == pytest.approx(1.0)
    assert proxy.gap_closed(pd.DataFrame(rows), alpha=2.0).gap_closed.iloc[0] == pytest.approx(0.0)
    # knowledge kept reads the proxy at the alpha it is given (it used to read 1.0 whatever the run's alpha)
    knowledge = pd.DataFrame(rows).assign(task="knowledge")
    assert proxy.knowledge_retention(knowledge, 1.0, n_resamples=200)["proxy_minus_direct"] == pytest.approx(-0.25)
    assert proxy.knowledge_retention(knowledge, 2.0, n_resamples=200)["proxy_minus_direct"] == pytest.approx(-1.0)


@pytest.mark.parametrize("style, last", [("polite", "answer"), ("chatty", "helps")])
def test_token_classes(style, last):
    tok = build_world(0, config=WORLD_PROFILES["smoke"]).tokenizer
    e, v = "orlan", "vesk"
    ref = proxy.STYLES[style]["fact_answer"].format(s=f"{e} lives in {v} .")
    cls = proxy.token_classes(ref, v, tok, "<|im_end|>", style)
    words = ref.split() + ["<|im_end|>"]
    assert len(cls) == len(words)
    got = dict(zip(words, cls))
    assert got["good"] == "style" and got[last] == "style" and got["<|im_end|>"] == "style"
    assert got[v] == "fact" and got[e] == "other" and got["lives"] == "other" and got["in"] == "other"
    assert cls.count("fact") == 1 and cls[-3] == "style" and cls[len(ref.split()) - 1] == "style"


def test_weight_change_by_hand(toys):
    tok, large, _, _ = toys
    tuned = copy.deepcopy(large)
    with torch.no_grad():
        for p in tuned.model.layers[1].mlp.parameters():
            p.mul_(1.1)
    change = proxy.weight_change(large, tuned).set_index("group").relative_change
    assert change["layer 1 mlp"] == pytest.approx(0.1, rel=1e-4)
    assert change.drop("layer 1 mlp").abs().max() == 0.0


# ------------------------------------------------------------------------------------------ verdicts


def test_verdict_rules():
    assert proxy.verdict_gap(0.9, 0.7, 0.2) == "reproduced"
    assert proxy.verdict_gap(0.7, 0.3, 0.2) == "partly"
    assert proxy.verdict_gap(0.9, 0.45, 0.2) == "partly"
    assert proxy.verdict_gap(0.2, -0.1, 0.2) == "not reproduced"
    assert proxy.verdict_gap(0.9, 0.7, -0.01) == "inconclusive"
    assert proxy.verdict_knowledge(0.02, 0.2, -1) == "reproduced"
    assert proxy.verdict_knowledge(-0.2, -0.02, 0.1) == "not reproduced"
    assert proxy.verdict_knowledge(-0.05, 0.1, 0.1) == "partly"
    assert proxy.verdict_knowledge(-0.05, 0.1, -0.1) == "inconclusive"
    assert proxy.verdict_style(0.3, 0.2, 0.4) == "reproduced"
    assert proxy.verdict_style(0.1, -0.05, 0.2) == "partly"
    assert proxy.verdict_style(-0.3, -0.4, -0.1) == "not reproduced"
    assert proxy.verdict_lower_layers(0.7, 0.2, 0.05, 0.2) == "reproduced"
    assert proxy.verdict_lower_layers(0.3, 0.2, 0.05, 0.2) == "partly"
    assert proxy.verdict_lower_layers(0.3, 0.0, 0.05, 0.2) == "not reproduced"
    assert proxy.verdict_lower_layers(0.7, 0.2, 0.05, 0.01) == "inconclusive"


def test_lower_layer_evidence():
    change = pd.DataFrame(dict(group=["embedding", "layer 0 mlp", "layer 1 mlp", "layer 2 mlp", "layer 3 mlp"],
                               relative_change=[0.5, 0.3, 0.3, 0.1, 0.1], layer=[np.nan, 0, 1, 2, 3]))
    restore = pd.DataFrame(dict(restored=["none (tuned)", "layer 1", "layer 2", "layer 3", "layer 4", "embedding",
                                          "all (base)"], top1=[0.5, 0.7, 0.6, 0.5, 0.55, 0.5, 0.9]))
    ev = proxy.lower_layer_evidence(change, restore)
    assert ev["lower_share"] == pytest.approx(0.75) and ev["layers"] == 4
    assert ev["restore_lower_gain"] == pytest.approx(0.2) and ev["restore_upper_gain"] == pytest.approx(0.05)
    assert ev["tuned_loss"] == pytest.approx(0.4)


# ------------------------------------------------------------------------------------------ the revised claims


def test_paper_table_gives_the_papers_figures():
    # the authors' result files, in %: (base, proxy, direct)
    assert proxy.PAPER_RESULTS["70B"]["GSM"] == (9.6, 33.5, 51.8)
    assert all(0 <= v <= 100 for size in proxy.PAPER_RESULTS.values() for row in size.values() for v in row)
    g70, g13 = proxy.paper_gap_closed("70B"), proxy.paper_gap_closed("13B")
    assert g70["GSM"] == pytest.approx((33.5 - 9.6) / (51.8 - 9.6)) and g70["GSM"] == pytest.approx(0.566, abs=1e-3)
    assert g70["AlpacaFarm"] == pytest.approx(0.972, abs=1e-3)
    assert g70["TruthfulQA true+info"] == pytest.approx(1.214, abs=1e-3)
    assert g70["TruthfulQA MC"] == pytest.approx(0.650, abs=1e-3) and g70["ToxiGen"] == pytest.approx(1.0)
    assert g13["GSM"] == pytest.approx(0.767, abs=1e-3) and g13["AlpacaFarm"] == pytest.approx(0.954, abs=1e-3)
    # the abstract's averages over the five metrics: 88% (70B) and 91% (13B), a fraction like our gap closed
    assert proxy.paper_gap_closed_average("70B") == pytest.approx(proxy.PAPER_GAP_CLOSED[0], abs=0.005)
    assert proxy.paper_gap_closed_average("13B") == pytest.approx(proxy.PAPER_GAP_CLOSED[1], abs=0.005)
    assert set(proxy.PAPER_TASK) == set(proxy.TASKS)
    for task, (metric, _) in proxy.PAPER_TASK.items():
        c = proxy.gap_claim(task)
        assert c.size and c.unit == "seed" and c.paper == pytest.approx(g70[metric])
    assert proxy.gap_average_claim().paper == pytest.approx(0.8805, abs=1e-4)
    kinds = {c.id: c.kind for c in proxy.declared()}
    assert kinds["direct_tuning_lower_layers"] == "seed hypothesis" and kinds["gap_closed_counting"] == "paper finding"


def arm_rows(task, seed, base, proxy_, direct, extra=None):
    """One seed's rows of ``run_arms`` for ``task``: per item the correctness of base, proxy (alpha 1 and a
    decoy at alpha 2) and direct."""
    rows = []
    for i, (b, p, d) in enumerate(zip(base, proxy_, direct)):
        rows += [dict(item=i, arm="base", alpha=np.nan, correct=b, task=task, seed=seed),
                 dict(item=i, arm="proxy", alpha=1.0, correct=p, task=task, seed=seed),
                 dict(item=i, arm="proxy", alpha=2.0, correct=0.0, task=task, seed=seed),
                 dict(item=i, arm="direct", alpha=np.nan, correct=d, task=task, seed=seed)]
    return rows


def test_gap_rows_by_hand():
    rows = []
    for seed, hits in enumerate((2, 3, 4)):  # counting: base 0/4, direct 4/4, proxy 2, 3, 4 of 4
        rows += arm_rows("counting", seed, [0] * 4, [1] * hits + [0] * (4 - hits), [1] * 4)
        rows += arm_rows("knowledge", seed, [1, 0, 0, 0], [1, 0, 0, 0], [1, 0, 0, 0])  # direct = base
    results = pd.DataFrame(rows)
    card = {r["claim_id"]: r for r in proxy.gap_rows(results, proxy.gap_closed(results, n_resamples=200))}
    c = card["gap_closed_counting"]
    # per seed 0.5, 0.75, 1.0: mean 0.75, sd 0.25, t(2) = 4.303 -> half width 4.303 * 0.25 / sqrt(3) = 0.621
    assert c["our_value"] == pytest.approx(0.75)
    assert (c["ci_low"], c["ci_high"]) == pytest.approx((0.75 - 0.6211, 0.75 + 0.6211), abs=1e-3)
    assert c["paper_value"] == pytest.approx(proxy.paper_gap_closed()["GSM"]) and c["verdict"] == "reproduced"
    assert c["verdict_v1"] == "partly" and c["unit"] == "seed"  # v1: 0.75, but 4 items put the low end below 0.5
    k = card["gap_closed_knowledge"]
    # 0 / 0: no interval, and the precondition is the reason
    assert k["verdict"] == "inconclusive" and "direct tuning does not beat the base" in k["reason"]
    # both arms below the base (base 2/4, proxy 1/4, direct 0/4): the ratio would read 150%; the row gives none
    lost = pd.DataFrame([r for s in range(3) for r in arm_rows("knowledge", s, [1, 1, 0, 0], [1, 0, 0, 0], [0] * 4)])
    row = proxy.gap_rows(lost, proxy.gap_closed(lost, n_resamples=200))[0]
    assert np.isnan(row["our_value"]) and row["verdict"] == "inconclusive" and "does not beat" in row["reason"]
    assert "gap_closed_instruction" not in card  # no items of the task, no row
    avg = card["gap_closed_average"]  # over counting only, the one task that passes
    assert avg["our_value"] == pytest.approx(0.75) and avg["claim"].endswith("(over counting)")
    assert avg["paper_value"] == pytest.approx(proxy.paper_gap_closed_average())
    # 20 items, direct 20/20, base 0/20: a proxy at 6, 6, 7 of 20 closes 0.3, 0.3, 0.35 -> [0.245, 0.388], an
    # effect but short of the paper's 0.566; at 2, 2, 3 -> [0.045, 0.188], above 0 but inside +-0.25 (too small
    # to matter); at 0, 1, 1 -> [-0.038, 0.105], inside +-0.25
    for hits, reason in (((6, 6, 7), "short of the paper's"), ((2, 2, 3), "excludes 0, but by less"),
                         ((0, 1, 1), "no effect that matters")):
        few = pd.DataFrame([r for s, h in enumerate(hits) for r in arm_rows("counting", s, [0] * 20,
                                                                            [1] * h + [0] * (20 - h), [1] * 20)])
        row = proxy.gap_rows(few, proxy.gap_closed(few, n_resamples=200))[0]
        assert row["our_value"] == pytest.approx(sum(hits) / 60)
        assert row["verdict"] == "not reproduced" and reason in row["reason"]


def test_knowledge_row_needs_forgetting():
    forgot, kept = [], []
    for seed, hits in enumerate((3, 4, 3)):  # base 4/4; direct 1/4 (forgot); proxy 3, 4, 3 of 4
        forgot += arm_rows("knowledge", seed, [1] * 4, [1] * hits + [0] * (4 - hits), [1, 0, 0, 0])
        kept += arm_rows("knowledge", seed, [1] * 4, [1] * 4, [1] * 4)
    row = proxy.knowledge_row(pd.DataFrame(forgot), "partly")
    # proxy - direct per seed 0.5, 0.75, 0.5: mean 0.583, interval above 0 -> reproduced; v1 beside it
    assert row["our_value"] == pytest.approx(7 / 12) and row["ci_low"] > 0
    assert (row["verdict"], row["verdict_v1"]) == ("reproduced", "partly")
    row = proxy.knowledge_row(pd.DataFrame(kept), "inconclusive")
    assert row["verdict"] == "inconclusive" and row["reason"].startswith("direct tuning did not forget")


def test_content_words_leave_out_markers_and_punctuation(smoke_world):
    words = proxy.content_words(smoke_world)
    assert {"good", "question", "so", "that", "is", "the", "answer"} <= words
    assert "." not in words and smoke_world.alignment_template.assistant_suffix not in words
    assert not set(smoke_world.alignment_template.markers()) & words


def test_style_row_counts_content_words_only():
    end = "<|im_end|>"
    rows = []
    for seed, (style_gain, fact_gain) in enumerate([(0.3, 0.1), (0.4, 0.1), (0.35, 0.05)]):
        for item in range(2):
            for word, cls, gain in [("good", "style", style_gain), ("answer", "style", style_gain),
                                    (".", "style", 0.9), (end, "style", 0.99), ("vesk", "fact", fact_gain),
                                    ("orlan", "other", 0.5)]:
                rows.append(dict(seed=seed, item=item, word=word, token_class=cls, p_base=0.0, p_proxy=gain,
                                 p_direct=gain))
    shift = pd.DataFrame(rows)
    per_item = proxy.content_shift(shift, {"good", "answer", "vesk", "orlan"})
    assert len(per_item) == 6 and per_item.style_minus_fact.tolist() == pytest.approx([0.2] * 2 + [0.3] * 2 + [0.3] * 2)
    row = proxy.style_row(shift, {"good", "answer", "vesk", "orlan"}, "reproduced")
    # per seed 0.2, 0.3, 0.3: mean 0.2667, sd 0.0577, t(2) half width 0.1434 -> [0.123, 0.410]: reproduced
    assert row["our_value"] == pytest.approx(0.8 / 3)
    assert (row["ci_low"], row["ci_high"]) == pytest.approx((0.8 / 3 - 0.1434, 0.8 / 3 + 0.1434), abs=1e-3)
    assert row["verdict"] == "reproduced" and row["verdict_v1"] == "reproduced"


def test_layer_row_reads_shares_over_seeds_only_after_a_loss():
    change = pd.DataFrame(dict(group=["embedding", "layer 0 mlp", "layer 1 mlp", "layer 2 mlp", "layer 3 mlp"],
                               relative_change=[0.5, 0.3, 0.3, 0.1, 0.1], layer=[np.nan, 0, 1, 2, 3]))
    assert proxy.lower_half_share(change) == pytest.approx(0.75)
    row = proxy.layer_row([0.7, 0.72, 0.68], 0.2, "partly")
    assert row["our_value"] == pytest.approx(0.2) and row["ci_low"] > 0.1 and row["verdict"] == "reproduced"
    assert row["kind"] == "seed hypothesis" and row["verdict_v1"] == "partly"
    row = proxy.layer_row([0.49, 0.51, 0.5], 0.2, "not reproduced")
    assert row["verdict"] == "not reproduced"  # inside +-0.05
    row = proxy.layer_row([0.7, 0.72, 0.68], 0.01, "inconclusive")
    assert row["verdict"] == "inconclusive" and row["reason"].startswith("direct tuning lost 1.0 points")
    assert proxy.layer_row([0.7], 0.2, "reproduced")["verdict"] == "inconclusive"  # one seed: no interval


# ------------------------------------------------------------------------------------------ data


@pytest.fixture(scope="module")
def smoke_world():
    return build_world(0, config=WORLD_PROFILES["smoke"])


def test_polite_style_uses_only_words_of_the_pretraining_corpus(smoke_world):
    corpus = {w for text in smoke_world.pretrain["text"] for w in text.split(" ")}
    for style, unseen in (("polite", False), ("chatty", True)):
        words = {w for k, t in proxy.STYLES[style].items() if k != "fact_in"
                 for w in t.split() if not w.startswith("{")}
        assert (not (words - corpus)) != unseen, (style, sorted(words - corpus))


@pytest.mark.parametrize("style", ["polite", "chatty"])
def test_split_and_instruction_set_keep_pretraining_only_facts_out(smoke_world, style):
    world = smoke_world
    facts = proxy.split_facts(world)
    assert set(facts.half) == {"tuning", "pretraining-only"}
    for _, g in facts.groupby("mentions"):  # both halves on every rung (rungs hold many facts)
        assert abs((g.half == "tuning").sum() - (g.half != "tuning").sum()) <= g.relation.nunique()
    pairs = proxy.sft_pairs(world, facts, style)
    held, tuning = facts[facts.half == "pretraining-only"], facts[facts.half == "tuning"]
    prompts = lambda fs: {proxy.STYLES[style]["fact"].format(q=docs.fact_query(e, r, v))
                          for e, r in zip(fs.entity, fs.relation) for v in range(2)}
    asked = {p for p, _ in pairs}
    assert not prompts(held) & asked and prompts(tuning) & asked
    assert len(pairs) <= len(world.instructions["chatty"])
    items = proxy.eval_items(world, facts, 9, style=style)
    assert items.task.value_counts().to_dict() == {"instruction": 9, "knowledge": 9, "counting": 9}
    k = items[items.task == "knowledge"]
    assert set(zip(k.entity, k.kind)) <= set(zip(held.entity, held.relation))
    assert set(items[items.task == "counting"].answer.str.split().str.len() - 1) == {2, 3, 4, 5, 6, 7}  # steps
    vocab = set(world.tokenizer.get_vocab())
    assert all(set(r.split()) <= vocab for r in items.reference) and all(set(u.split()) <= vocab for u in items.user)
    # each reference scores as correct under its own rule
    assert proxy.score(items, list(items.reference), world).all()


def test_resolve_rejects_bad_lists_and_mixed_real_ids():
    with pytest.raises(ValueError, match="'alphas'"):
        proxy.resolve({"profile": "smoke", "alphas": "0.5,x"})
    with pytest.raises(ValueError, match="'alphas'"):
        proxy.resolve({"profile": "smoke", "alphas": "0.5,11"})
    with pytest.raises(ValueError, match="real_large"):
        proxy.resolve({"profile": "smoke", "real_large": "Qwen/Qwen2.5-1.5B"})
    with pytest.raises(ValueError, match="'real_small'"):
        proxy.resolve({"profile": "paper", "real_small": "qwen"})
    P = proxy.resolve({"profile": "smoke", "alphas": "1,0.25,2"})
    assert P.alpha_values == [0.25, 1.0, 2.0] and not P.real


# ------------------------------------------------------------------------------------------ real-model path


def test_real_track_on_tiny_models_sharing_a_vocabulary(toys):
    tok, large, expert, small = toys
    tok = copy.deepcopy(tok)
    tok.chat_template = "{% for m in messages %}what {{ m['content'] }} answer{% endfor %}"
    direct = copy.deepcopy(large)
    zoo = {"l": (large, tok), "d": (direct, tok), "s": (small, tok), "e": (expert, tok)}
    items = pd.DataFrame(dict(task=["knowledge", "knowledge"], user=["the sky is", "the sea is"],
                              answer=["blue", "green"]))
    out = proxy.real_track(dict(large="l", direct="d", small="s", expert="e"), items, max_new_tokens=4,
                           device="cpu", loader=lambda name: zoo[name])
    assert set(out.arm) == {"base", "expert", "proxy", "direct"} and len(out) == 8
    assert set(out.correct) <= {0.0, 1.0}
    other = toy_tokenizer()
    other.add_tokens(["zebra"])
    zoo["s"] = (small, other)
    with pytest.raises(ValueError, match="one vocabulary"):
        proxy.real_track(dict(large="l", direct="d", small="s", expert="e"), items, loader=lambda name: zoo[name])


def test_real_items_file_is_well_formed():
    items = proxy.real_items()
    assert {"task", "user", "answer"} <= set(items.columns) and len(items) >= 20
    assert items.answer.str.len().min() > 0


def test_gap_closed_by_seed_by_hand():
    rows = []
    for seed in (0, 1):
        for i, (b, p, d) in enumerate([(0, 1, 1), (0, seed, 1), (0, 1, 1), (0, 0, 1)]):
            rows += [dict(item=i, arm="base", alpha=np.nan, correct=b, task="counting", seed=seed),
                     dict(item=i, arm="proxy", alpha=1.0, correct=p, task="counting", seed=seed),
                     dict(item=i, arm="direct", alpha=np.nan, correct=d, task="counting", seed=seed)]
    by_seed = proxy.gap_closed_by_seed(pd.DataFrame(rows))
    assert by_seed.counting.tolist() == pytest.approx([0.5, 0.75])  # 2 of 4 items, then 3 of 4
    assert proxy.gap_closed(pd.DataFrame(rows)).gap_closed.iloc[0] == pytest.approx(0.625)  # items averaged over seeds


# ------------------------------------------------------------------------------------------ the package's public face


def test_public_face_exports_what_the_chapter_and_the_benchmark_use():
    assert all(hasattr(proxy, name) for name in proxy.__all__) and len(set(proxy.__all__)) == len(proxy.__all__)
    assert {"PARAMETERS", "resolve"} <= set(proxy.__all__)  # sticky.chapters reads them
    assert {"decoding_speed", "proxy_combine"} <= set(proxy.__all__)  # benchmarks/run.py
