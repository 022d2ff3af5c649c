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
