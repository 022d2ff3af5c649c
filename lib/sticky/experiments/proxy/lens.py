"""The logit lens: what the residual stream after each decoder layer says about the next token.

A generic instrument that later chapters could share; it lives here for now, because the engine modules key
every cached model and must not change in a chapter's issue."""

from __future__ import annotations

from typing import Sequence

import torch

from sticky import probe

from .decoding import _pad_id


@torch.no_grad()
def logit_lens(model, tokenizer, prompts: Sequence[str], batch_size: int = 64) -> torch.Tensor:
    """Next-token log-probabilities read from the residual stream after every decoder layer (final norm, then
    the output layer), at each prompt's last position: [n_prompts, n_layers, vocab]. The last layer's
    reading is the model's own output."""
    layers = probe.decoder_layers(model)
    norm, head = model.model.norm, model.lm_head
    captured: dict[int, torch.Tensor] = {}

    def hook(i):
        def fn(module, args, output):
            h = output[0] if isinstance(output, tuple) else output
            captured[i] = h[:, -1]
        return fn

    handles = [layer.register_forward_hook(hook(i)) for i, layer in enumerate(layers)]
    rows = tokenizer(list(prompts), add_special_tokens=True)["input_ids"]
    device = next(model.parameters()).device
    out = torch.empty(len(prompts), len(layers), model.config.vocab_size)
    try:
        for start in range(0, len(rows), batch_size):
            idx = list(range(start, min(len(rows), start + batch_size)))
            model(**probe.left_pad([rows[i] for i in idx], _pad_id(model), device), logits_to_keep=1, use_cache=False)
            for i in range(len(layers)):
                out[idx, i] = torch.log_softmax(head(norm(captured[i])).float(), -1).cpu()
    finally:
        for h in handles:
            h.remove()
    return out
