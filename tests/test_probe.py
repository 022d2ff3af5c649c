"""sticky.probe against plain unpadded forward passes on a tiny Llama (no world module needed)."""

import numpy as np
import pytest
import torch

from sticky import probe
from toys import tiny_model, toy_tokenizer

PROMPTS = ["the cat sat on the", "red", "what color is the sky", "a dog ran", "the sea is blue and the sky is"]


@pytest.fixture(scope="module")
def tok():
    return toy_tokenizer()


@pytest.fixture(scope="module")
def model(tok):
    return tiny_model(tok).eval()


def plain_logprobs(model, ids) -> torch.Tensor:
    with torch.no_grad():
        return torch.log_softmax(model(torch.tensor([ids])).logits[0].double(), -1)


def ids_of(tok, text, special=True):
    return tok(text, add_special_tokens=special)["input_ids"]


def test_next_token_probs_equal_unpadded_forward(tok, model):
    targets = ["mat", "blue", "blue", "on", "green"]
    got = probe.next_token_probs(model, tok, PROMPTS, targets, batch_size=3)
    want = [plain_logprobs(model, ids_of(tok, p))[-1, ids_of(tok, t, False)[0]].exp().item() for p, t in zip(PROMPTS, targets)]
    np.testing.assert_allclose(got, want, rtol=1e-5)
    # ids work as targets too, and a multi-token target is refused
    ids = [ids_of(tok, t, False)[0] for t in targets]
    np.testing.assert_allclose(probe.next_token_probs(model, tok, PROMPTS, ids, batch_size=3), got)  # same batches
    with pytest.raises(ValueError, match="single-token"):
        probe.next_token_probs(model, tok, ["the"], ["red sky"])


def test_probs_matrix_equals_unpadded_forward(tok, model):
    targets = ["red", "blue", "green", "<eos>"]
    got = probe.probs_matrix(model, tok, PROMPTS, targets, batch_size=2)
    ids = [tok.convert_tokens_to_ids(t) for t in targets]
    want = np.stack([plain_logprobs(model, ids_of(tok, p))[-1, ids].exp().numpy() for p in PROMPTS])
    assert got.shape == (len(PROMPTS), len(targets))
    np.testing.assert_allclose(got, want, rtol=1e-5)


def test_sequence_nll_equals_hand_sum(tok, model):
    completions = ["mat", "sky is blue", "blue", "on the mat says yes", "green"]
    got = probe.sequence_nll(model, tok, PROMPTS, completions, batch_size=2)
    got_mean = probe.sequence_nll(model, tok, PROMPTS, completions, per_token=True)
    for i, (p, c) in enumerate(zip(PROMPTS, completions)):
        head, tail = ids_of(tok, p), ids_of(tok, c, False)
        lp = plain_logprobs(model, head + tail)
        want = -sum(lp[len(head) + j - 1, t].item() for j, t in enumerate(tail))
        assert got[i] == pytest.approx(want, rel=1e-5)
        assert got_mean[i] == pytest.approx(want / len(tail), rel=1e-5)


def test_batched_greedy_generation_equals_one_by_one_without_cache(tok, model):
    got = probe.generate(model, tok, PROMPTS, max_new_tokens=6, batch_size=3, stop_at_eos=True)
    for p, text in zip(PROMPTS, got):
        ids, new = ids_of(tok, p), []
        for _ in range(6):
            with torch.no_grad():
                nxt = int(model(torch.tensor([ids]), use_cache=False).logits[0, -1].argmax())
            if nxt == tok.eos_token_id:
                break
            ids, new = ids + [nxt], new + [nxt]
        assert text == tok.decode(new, skip_special_tokens=True), p


def test_scale_heads_by_one_changes_nothing(tok, model):
    ids = torch.tensor([ids_of(tok, PROMPTS[0])])
    base = model(ids).logits
    every = {f"blocks.{l}.attn.head.{h}": 1.0 for l in range(2) for h in range(4)}
    with probe.scale_heads(model, every):
        assert torch.equal(model(ids).logits, base)
    with pytest.raises(ValueError, match="allowed"):
        with probe.scale_heads(model, {"blocks.0.attn.head.9": 0.0}):
            pass
    with pytest.raises(ValueError, match="allowed"):
        with probe.scale_heads(model, {"layer0.head2": 0.0}):
            pass


def test_zero_heads_of_a_layer_equals_zeroing_o_proj(tok, model):
    ids = torch.tensor([ids_of(tok, PROMPTS[2])])
    with probe.scale_heads(model, {f"blocks.1.attn.head.{h}": 0.0 for h in range(4)}):
        scaled = model(ids).logits
    handle = model.model.layers[1].self_attn.o_proj.register_forward_hook(lambda m, a, out: torch.zeros_like(out))
    try:
        zeroed = model(ids).logits
    finally:
        handle.remove()
    assert torch.allclose(scaled, zeroed, atol=1e-6)
    assert not torch.allclose(scaled, model(ids).logits)  # and the hooks are gone after the block
    with probe.scale_heads(model, {"blocks.1.attn.head.2": 0.0}):  # one head alone: between the two
        one = model(ids).logits
    assert not torch.allclose(one, zeroed) and not torch.allclose(one, model(ids).logits)


def test_head_contributions_sum_to_attention_output(tok, model):
    outputs = {}
    hooks = [
        layer.self_attn.o_proj.register_forward_hook(lambda m, a, out, i=i: outputs.setdefault(i, []).append(out[0, -1]))
        for i, layer in enumerate(model.model.layers)
    ]
    try:
        for p in PROMPTS:
            model(torch.tensor([ids_of(tok, p)]))
    finally:
        for h in hooks:
            h.remove()
    contrib = probe.head_contributions(model, tok, PROMPTS, batch_size=2)
    assert contrib.shape == (len(PROMPTS), 2, 4, 32)
    for layer in range(2):
        want = torch.stack(outputs[layer])
        assert torch.allclose(contrib[:, layer].sum(1), want, atol=1e-5)
