"""sticky.hooks: the Trace primitive and the instruments on it, on a tiny Llama."""

import pytest
import torch

from sticky import hooks
from toys import PROMPTS, ids_of, tiny_model


def test_scale_heads_by_one_changes_nothing(tok, model):
    ids = torch.tensor([ids_of(tok, PROMPTS[0])])
    base = model(ids).logits
    every = {f"blocks.{l}.attn.head.{h}": 1.0 for l in range(2) for h in range(4)}
    with hooks.scale_heads(model, every):
        assert torch.equal(model(ids).logits, base)
    with pytest.raises(ValueError, match="allowed"):
        with hooks.scale_heads(model, {"blocks.0.attn.head.9": 0.0}):
            pass
    with pytest.raises(ValueError, match="allowed"):
        with hooks.scale_heads(model, {"layer0.head2": 0.0}):
            pass


def test_zero_heads_of_a_layer_equals_zeroing_o_proj(tok, model):
    ids = torch.tensor([ids_of(tok, PROMPTS[2])])
    with hooks.scale_heads(model, {f"blocks.1.attn.head.{h}": 0.0 for h in range(4)}):
        scaled = model(ids).logits
    handle = model.model.layers[1].self_attn.o_proj.register_forward_hook(lambda m, a, out: torch.zeros_like(out))
    try:
        zeroed = model(ids).logits
    finally:
        handle.remove()
    assert torch.allclose(scaled, zeroed, atol=1e-6)
    assert not torch.allclose(scaled, model(ids).logits)  # and the hooks are gone after the block
    with hooks.scale_heads(model, {"blocks.1.attn.head.2": 0.0}):  # one head alone: between the two
        one = model(ids).logits
    assert not torch.allclose(one, zeroed) and not torch.allclose(one, model(ids).logits)


def test_head_contributions_sum_to_attention_output(tok, model):
    outputs = {}
    handles = [
        layer.self_attn.o_proj.register_forward_hook(
            lambda m, a, out, i=i: outputs.setdefault(i, []).append(out[0, -1]))
        for i, layer in enumerate(model.model.layers)
    ]
    try:
        for p in PROMPTS:
            model(torch.tensor([ids_of(tok, p)]))
    finally:
        for h in handles:
            h.remove()
    contrib = hooks.head_contributions(model, tok, PROMPTS, batch_size=2)
    assert contrib.shape == (len(PROMPTS), 2, 4, 32)
    for layer in range(2):
        want = torch.stack(outputs[layer])
        assert torch.allclose(contrib[:, layer].sum(1), want, atol=1e-5)


def test_trace_keeps_and_edits_named_modules(tok, model):
    ids = torch.tensor([ids_of(tok, PROMPTS[0])])
    name = "model.layers.0.mlp"
    with hooks.Trace(model, keep={name: "output"}) as t:
        base = model(ids).logits
    assert t[name].shape == (1, ids.shape[1], 32)
    with hooks.Trace(model, edits={name: ("output", torch.zeros_like)}):
        zeroed = model(ids).logits
    handle = model.model.layers[0].mlp.register_forward_hook(lambda m, a, out: torch.zeros_like(out))
    try:
        assert torch.equal(zeroed, model(ids).logits)
    finally:
        handle.remove()
    assert torch.equal(model(ids).logits, base)  # the hooks are gone after the block
    with pytest.raises(ValueError, match="allowed"):
        with hooks.Trace(model, keep={"model.nope": "output"}):
            pass


def test_restored_copies_the_named_units_only(tok):
    a, b = tiny_model(tok, seed=0), tiny_model(tok, seed=1)
    patched = hooks.restored(a, b, lambda n: n.startswith("model.layers.1."))
    for (name, p), q, r in zip(patched.named_parameters(), a.parameters(), b.parameters()):
        assert torch.equal(p, r if name.startswith("model.layers.1.") else q), name
    assert patched is not a


def test_logit_lens_last_layer_is_the_output(tok, model):
    lens = hooks.logit_lens(model, tok, PROMPTS, pad_id=tok.pad_token_id, batch_size=2)
    assert lens.shape == (len(PROMPTS), 2, len(tok))
    with torch.no_grad():
        for i, p in enumerate(PROMPTS):
            out = torch.log_softmax(model(input_ids=torch.tensor([ids_of(tok, p)])).logits[0, -1], -1)
            assert torch.allclose(lens[i, -1], out, atol=1e-4)
    assert not torch.allclose(lens[0, 0], lens[0, -1])
