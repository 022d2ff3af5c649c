"""Chapter 3's real-model track: the English battery and its measurement path, the two English instruction
sets, the tuning format against the probe format, and the real cross-tuning end to end on tiny models."""

import re
from types import SimpleNamespace

import pandas as pd
import pytest
import torch
from transformers import LlamaConfig, LlamaForCausalLM

from sticky import train
from sticky.experiments import biases as B
from sticky.store import Store
from sticky.world import make_tokenizer

R = B.real  # the real-model track


def tiny_model(tok, seed: int = 0) -> LlamaForCausalLM:
    config = LlamaConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                         num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=512,
                         bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id)
    torch.manual_seed(seed)
    return LlamaForCausalLM(config).eval()


def test_battery_and_its_measurement_path():
    items = R.battery()
    assert set(items.bias) == set(B.BIASES) and items.groupby("bias").scenario.nunique().min() >= 5
    for _, g in items.groupby(["bias", "scenario"]):
        assert sorted(g.treated) == [False, True] and g.story.nunique() == 2
    assert set(items[items.bias == "anchoring"].anchor) <= set(range(1, 10))
    tok = make_tokenizer()
    model = tiny_model(tok)
    first = next(items.itertuples())
    assert R.probe_prompt(first, tok, chat=False).endswith("\nAnswer:")
    out = R.measure(model, tok, R.battery(5), chat=False)
    assert len(out) == len(B.BIASES) * 5 and out.score.between(-1, 1).all()
    prof = R.bias_profile(out.assign(model="tiny"))
    assert (prof.low <= prof.score).all() and (prof.score <= prof.high).all()


def test_instruction_sets_differ_in_style_hold_both_answer_formats_and_no_decisions():
    sets = {style: R.instruction_set(style, 400, seed=0) for style in R.STYLES}
    assert R.instruction_set("terse", 400, seed=0) == sets["terse"] != R.instruction_set("terse", 400, seed=1)
    battery = R.battery()
    cue_words = ("risk", "lose", "lost", "for certain", "most people", "already", "spent", "chance")
    for style, pairs in sets.items():
        prompts = [p for p, _ in pairs]
        assert any("\nA) " in p and "\nB) " in p for p in prompts), style  # the lettered-choice format
        assert any(r.split(".")[0] in [str(d) for d in range(1, 10)] for _, r in pairs), style  # a digit answer
        text = " ".join(p + " " + r for p, r in pairs).lower()
        assert not any(re.search(rf"\b{w}\b", text) for w in cue_words), style
        assert not set(prompts) & set(battery.question)
    terse_len = sum(len(r) for _, r in sets["terse"]) / 400
    chatty_len = sum(len(r) for _, r in sets["chatty"]) / 400
    assert chatty_len > 3 * terse_len  # the chatty set explains; the terse set answers bare
    # a lettered choice: the right option's letter, and the chatty reply says it first
    for (p, r) in sets["terse"][:200]:
        if "\nA) " in p and "larger" in p:
            a, b = (int(line[3:]) for line in p.split("\n")[1:3])
            assert r == ("A" if a > b else "B")
    with pytest.raises(ValueError, match="allowed: terse, chatty"):
        R.instruction_set("flan", 3, seed=0)


def test_tuning_format_is_the_probe_format():
    """A lettered instruction example, rendered for tuning, reads like a battery item's base-model prompt, and
    its response starts with the token the probe reads (" A" or " B")."""
    tok = make_tokenizer()
    prompt, response = R.answer_format("Which number is larger?\nA) 3\nB) 7", "B")
    row = SimpleNamespace(story="A story.", question="Which number is larger?", options=["3", "7"])
    assert prompt.endswith("\nAnswer:") and R.probe_prompt(row, tok, chat=False).endswith("\nB) 7\nAnswer:")
    assert tok(response, add_special_tokens=False)["input_ids"][0] == R.single_token(tok, "B", chat=False)


def test_cross_tune_end_to_end_on_tiny_models(tmp_path):
    tok = make_tokenizer()
    zoo = {"tiny-a": 0, "tiny-b": 1}
    loads = []

    def load(name, store=None):
        loads.append(name)
        return tiny_model(tok, zoo[name]), tok

    P = SimpleNamespace(real_steps=2, real_batch_size=2, real_lr=1e-3, real_examples=16, lora_rank=4, real_seeds=2,
                        device="cpu")
    items = R.battery(5)
    store = Store(tmp_path)
    scores = R.cross_tune(list(zoo), P, items, store, load=load)
    assert len(loads) == 2 * 2 * 2 and scores.model.nunique() == 8
    assert set(scores.data) == set(R.STYLES) and set(scores.backbone) == set(zoo)
    X, labels = B.model_vectors(scores)
    assert X.shape == (8, len(B.BIASES) * 5) and scores.score.between(-1, 1).all()
    assert (scores.loss_first > 0).all() and scores.option_mass.between(0, 1).all()
    # seeds differ (adapter initialisation, data order); the cache answers a second run without loading
    by_seed = scores[scores.backbone == "tiny-a"].groupby("seed").score.apply(list)
    assert by_seed[0] != by_seed[1]
    again = R.cross_tune(list(zoo), P, items, store, load=load)
    assert len(loads) == 8
    pd.testing.assert_frame_equal(scores, again)


def test_lora_trains_only_the_adapter():
    tok = make_tokenizer()
    model = R.with_lora(tiny_model(tok), rank=4, seed=0)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    pairs = R.instruction_set("terse", 8, seed=0)
    train.sft(model, tok, pairs, train.TrainConfig(steps=2, batch_size=2, seq_len=64, lr=1e-2, warmup_steps=1,
                                                   device="cpu"), render=R.answer_format)
    changed = {n for n, p in model.named_parameters() if not torch.equal(p, before[n])}
    assert changed and all("lora_" in n for n in changed)
