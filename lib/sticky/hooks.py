"""Hooks into a model's modules, and the instruments built on them: head contributions, head scaling, the logit
lens, restoring named units from a donor model.

One primitive, ``Trace`` (after ROME's ``nethook``): ``with Trace(model, {"model.layers.3.mlp": "output"}) as t:
model(x)`` keeps what the named module received or returned, and ``edits`` can change it on the way. Modules are
named as Hugging Face names them; heads are named as TransformerLens does, ``blocks.{L}.attn.head.{H}``.
Activations (TransformerLens names, Llama shapes):

- ``blocks.{L}.attn.hook_z``: the input of layer L's ``self_attn.o_proj``, ``[batch, pos, head_index * d_head]``;
  head H's slice times its columns of ``W_O`` is that head's write into the residual stream;
- ``blocks.{L}.hook_resid_post``: the output of decoder layer L, ``[batch, pos, d_model]``.

Introduced in chapter 4 (context priors); used by chapters 5 (logit lens, restored layers) and 6 (restored units).
"""

from __future__ import annotations

import copy
import re
from contextlib import contextmanager
from typing import Callable, Iterator, Mapping, Sequence

import torch

from sticky import probe

_HEAD = re.compile(r"^blocks\.(\d+)\.attn\.head\.(\d+)$")


class Trace:
    """Keep the input (``"input"``: the first positional argument) or the output (``"output"``: the first
    element when it is a tuple) of named modules during the forward passes run inside the block; ``edits``
    map a name to a function that returns the tensor to use instead."""

    def __init__(self, model: torch.nn.Module, keep: Mapping[str, str] = (),
                 edits: Mapping[str, tuple[str, Callable[[torch.Tensor], torch.Tensor]]] = ()):
        self.model, self.keep, self.edits = model, dict(keep), dict(edits)
        self.kept: dict[str, torch.Tensor] = {}
        self._handles: list = []

    def __getitem__(self, name: str) -> torch.Tensor:
        return self.kept[name]

    def __enter__(self) -> "Trace":
        modules = dict(self.model.named_modules())
        for name in {*self.keep, *self.edits}:
            if name not in modules:
                raise ValueError(f"no module {name!r} in {type(self.model).__name__}; allowed: its named_modules()")
            where = self.keep.get(name) or self.edits[name][0]
            if where not in ("input", "output"):
                raise ValueError(f"{name}: {where!r}; allowed: input, output")
            module = modules[name]
            if where == "input":
                self._handles.append(module.register_forward_pre_hook(self._pre(name)))
            else:
                self._handles.append(module.register_forward_hook(self._post(name)))
        return self

    def __exit__(self, *exc) -> None:
        for h in self._handles:
            h.remove()
        self._handles = []

    def _pre(self, name: str):
        def hook(module, args):
            x, *rest = args
            if name in self.edits:
                x = self.edits[name][1](x)
            if name in self.keep:
                self.kept[name] = x
            return (x, *rest)

        return hook

    def _post(self, name: str):
        def hook(module, args, output):
            x = output[0] if isinstance(output, tuple) else output
            if name in self.edits:
                x = self.edits[name][1](x)
                output = (x, *output[1:]) if isinstance(output, tuple) else x
            if name in self.keep:
                self.kept[name] = x
            return output

        return hook


def decoder_layers(model) -> torch.nn.ModuleList:
    """The list of decoder blocks (Llama, Gemma3, Qwen, ... all call it ``layers``)."""
    for name, module in model.named_modules():
        if name.endswith("layers") and isinstance(module, torch.nn.ModuleList):
            return module
    raise ValueError(f"no decoder `layers` in {type(model).__name__}; allowed: Llama-like models")


def layer_names(model) -> list[str]:
    """The Hugging Face names of the decoder blocks, in order (``model.layers.0``, …)."""
    layers = decoder_layers(model)
    by_module = {id(m): n for n, m in model.named_modules()}
    return [by_module[id(layer)] for layer in layers]


def module_name(model, module: torch.nn.Module) -> str:
    """The Hugging Face name of ``module`` inside ``model``."""
    return next(n for n, m in model.named_modules() if m is module)


def o_proj_names(model) -> list[str]:
    """Per layer, the name of the attention's output projection (whose input is ``hook_z``)."""
    return [f"{n}.self_attn.o_proj" for n in layer_names(model)]


def head_shape(attn) -> tuple[int, int]:
    """(heads, d_head) of an attention module."""
    return attn.o_proj.in_features // attn.head_dim, attn.head_dim


def parse_head(name: str) -> tuple[int, int]:
    """``"blocks.3.attn.head.1"`` -> (3, 1)."""
    m = _HEAD.match(name)
    if not m:
        raise ValueError(f"head name {name!r}; allowed: 'blocks.{{L}}.attn.head.{{H}}'")
    return int(m.group(1)), int(m.group(2))


def head_name(layer: int, head: int) -> str:
    return f"blocks.{layer}.attn.head.{head}"


# ---------------------------------------------------------------------------------------------------------
# heads


@contextmanager
def scale_heads(model, scales: Mapping[str, float]) -> Iterator[torch.nn.Module]:
    """Within the block, multiply each named head's output (its slice of ``hook_z``) by its scale."""
    layers, names = decoder_layers(model), o_proj_names(model)
    per_layer: dict[int, dict[int, float]] = {}
    for name, s in scales.items():
        layer, head = parse_head(name)
        if layer >= len(layers):
            raise ValueError(f"{name}: layer {layer}; allowed: 0..{len(layers) - 1}")
        n_heads, _ = head_shape(layers[layer].self_attn)
        if head >= n_heads:
            raise ValueError(f"{name}: head {head}; allowed: 0..{n_heads - 1}")
        per_layer.setdefault(layer, {})[head] = float(s)
    edits = {}
    for layer, heads in per_layer.items():
        n_heads, d_head = head_shape(layers[layer].self_attn)
        factor = torch.ones(n_heads)
        for h, s in heads.items():
            factor[h] = s
        factor = factor.repeat_interleave(d_head)  # [head_index * d_head]
        edits[names[layer]] = ("input", lambda z, factor=factor: z * factor.to(z.device, z.dtype))
    with Trace(model, edits=edits):
        yield model


@torch.no_grad()
def head_contributions(model, tokenizer, prompts: Sequence[str], batch_size: int = 32) -> torch.Tensor:
    """Each head's write into the residual stream at the last position: [n_prompts, layers, heads, d_model].

    Head H of layer L writes ``z_H @ W_O[:, H].T`` where ``z_H`` is its slice of ``hook_z``; the sum over heads
    (plus the o_proj bias, if any) is the attention output. Dot it with an unembedding direction for direct
    logit attribution (mind the final norm).
    """
    model.eval()
    layers, names = decoder_layers(model), o_proj_names(model)
    rows = probe.encode(tokenizer, prompts, special=True)
    pad, device = probe.pad_id(tokenizer), probe.model_device(model)
    n_heads, d_head = head_shape(layers[0].self_attn)
    d_model = layers[0].self_attn.o_proj.out_features
    out = torch.empty(len(prompts), len(layers), n_heads, d_model)
    with Trace(model, keep={n: "input" for n in names}) as trace:
        for idx in probe.length_batches([len(r) for r in rows], batch_size):
            model(**probe.left_pad([rows[i] for i in idx], pad, device), logits_to_keep=1, use_cache=False)
            for layer_i, layer in enumerate(layers):
                # left padding: the last position is every prompt's last token
                z = trace[names[layer_i]][:, -1].view(len(idx), n_heads, d_head)  # [batch, head_index, d_head]
                w = layer.self_attn.o_proj.weight.view(d_model, n_heads, d_head)  # [d_model, head_index, d_head]
                out[idx, layer_i] = torch.einsum("bhk,dhk->bhd", z.float(), w.float()).cpu()
    return out


# ---------------------------------------------------------------------------------------------------------
# the logit lens


@torch.no_grad()
def logit_lens(model, tokenizer, prompts: Sequence[str], pad_id: int, batch_size: int = 64) -> torch.Tensor:
    """Next-token log-probabilities read from ``hook_resid_post`` of every decoder layer (final norm, then the
    output layer), at each prompt's last position: [n_prompts, n_layers, vocab]. The last layer's reading is the
    model's own output."""
    names = layer_names(model)
    norm, head = model.model.norm, model.lm_head
    rows = tokenizer(list(prompts), add_special_tokens=True)["input_ids"]
    device = probe.model_device(model)
    out = torch.empty(len(prompts), len(names), model.config.vocab_size)
    with Trace(model, keep={n: "output" for n in names}) as trace:
        for start in range(0, len(rows), batch_size):
            idx = list(range(start, min(len(rows), start + batch_size)))
            model(**probe.left_pad([rows[i] for i in idx], pad_id, device), logits_to_keep=1, use_cache=False)
            for i, name in enumerate(names):
                out[idx, i] = torch.log_softmax(head(norm(trace[name][:, -1])).float(), -1).cpu()
    return out


# ---------------------------------------------------------------------------------------------------------
# restoring units


def restored(model, donor, names: Callable[[str], bool]):
    """A copy of ``model`` whose parameters with a name for which ``names(name)`` is true are ``donor``'s (same
    architecture): the causal test of where a difference between two models lives. A tied output layer is the
    embedding's parameter, restored with it."""
    patched = copy.deepcopy(model)
    donor_state = donor.state_dict()
    with torch.no_grad():
        for name, p in patched.named_parameters():
            if names(name):
                p.copy_(donor_state[name])
    return patched
