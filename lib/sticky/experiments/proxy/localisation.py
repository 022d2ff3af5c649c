"""Where tuning acts: which tokens it moves (style / format vs fact tokens), and where direct tuning changes the
network (weights, logit lens, restoring one layer)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import torch

from sticky import hooks, probe, stats
from sticky.decoding import Part, alone, model_pad_id

from .data import STYLES, value_domain
from .ensemble import forced_logprobs, proxy_combine
from .training import Arms

# ---------------------------------------------------------------------------------------------------------
# token-level shift: style / format tokens vs fact tokens


def token_classes(reference: str, answer: str, tokenizer, end_marker: str, style: str = "polite") -> list[str]:
    """Class of every token of ``reference + end marker``: 'fact' (the answer word), 'style' (the style's
    wrapper: every word before the statement and after it, and the end marker) or 'other' (the statement's
    remaining words: the entity and the relation's phrasing)."""
    head = STYLES[style]["fact_answer"].split("{s}")[0].split()
    tail = STYLES[style]["fact_answer"].split("{s}")[1].split()
    words = reference.split()
    classes = []
    for i, w in enumerate(words):
        if i < len(head) or i >= len(words) - len(tail):
            classes.append("style")
        elif w == answer:
            classes.append("fact")
        else:
            classes.append("other")
    ids = tokenizer(reference, add_special_tokens=False)["input_ids"]
    if len(ids) != len(words):
        raise RuntimeError("the micro-world tokenizer must give one token per word")
    return classes + ["style"]


def token_shift(arms: Arms, items: pd.DataFrame, alpha: float = 1.0, style: str = "polite") -> pd.DataFrame:
    """On the knowledge items' reference answers (teacher forcing), each token's probability under the base
    (plain prompt), the proxy and the directly tuned model, with its class (``token_classes``)."""
    tok, t = arms.world.tokenizer, arms.world.alignment_template
    k = items[items.task == "knowledge"].reset_index(drop=True)
    users = list(k.user)
    conts = [tok(f"{ref} {t.assistant_suffix}", add_special_tokens=False)["input_ids"] for ref in k.reference]
    plain, chat = arms.rows([arms.plain(u) for u in users]), arms.rows([arms.chat(u) for u in users])
    base = forced_logprobs([Part(arms.large, plain)], alone, conts)
    prox = forced_logprobs([Part(arms.large, plain), Part(arms.expert, chat), Part(arms.small, plain)],
                           proxy_combine(alpha), conts)
    direct = forced_logprobs([Part(arms.direct, chat)], alone, conts)
    rows = []
    for i, it in enumerate(k.itertuples()):
        cls = token_classes(it.reference, it.answer, tok, t.assistant_suffix, style)
        words = it.reference.split() + [t.assistant_suffix]
        for j, c in enumerate(cls):
            rows.append(dict(item=i, position=j, word=words[j], token_class=c, mentions=it.mentions,
                             p_base=math.exp(base[i][j]), p_proxy=math.exp(prox[i][j]),
                             p_direct=math.exp(direct[i][j])))
    return pd.DataFrame(rows).assign(seed=arms.seed)


def shift_summary(shift: pd.DataFrame, seed: int = 0) -> pd.DataFrame:
    """Mean probability gain over the base per token class and tuned model (proxy, direct), with 95% bootstrap
    intervals over items; and per model the paired style-minus-fact gain per item with its interval."""
    rows = []
    for model in ("proxy", "direct"):
        gain = shift.assign(gain=shift[f"p_{model}"] - shift.p_base)
        per_item = gain.groupby(["seed", "item", "token_class"]).gain.mean().unstack()
        for cls in ("style", "other", "fact"):
            v = per_item[cls].dropna().to_numpy()
            lo, hi = stats.bootstrap_interval(v, seed=seed, n_resamples=1000)
            rows.append(dict(model=model, token_class=cls, mean_gain=v.mean(), ci_low=lo, ci_high=hi, items=len(v)))
        d = (per_item["style"] - per_item["fact"]).dropna().to_numpy()
        lo, hi = stats.bootstrap_interval(d, seed=seed, n_resamples=1000)
        rows.append(dict(model=model, token_class="style - fact", mean_gain=d.mean(), ci_low=lo, ci_high=hi,
                         items=len(d)))
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------------------------------------
# where direct tuning changes the network: weights, logit lens, restoring one layer


def _group(name: str) -> str:
    """'model.layers.2.mlp.up_proj.weight' -> 'layer 2 mlp'; embeddings and the final norm by name."""
    parts = name.split(".")
    if "layers" in parts:
        i = int(parts[parts.index("layers") + 1])
        sub = "attention" if "self_attn" in parts else "mlp" if "mlp" in parts else "norms"
        return f"layer {i} {sub}"
    return "embedding" if "embed" in name else "final norm" if "norm" in name else name


def weight_change(before: torch.nn.Module, after: torch.nn.Module) -> pd.DataFrame:
    """Relative change ||W_after - W_before||_F / ||W_before||_F per group of parameters (per layer: attention,
    MLP, norms; the embedding, which is tied to the output layer; the final norm)."""
    a = dict(after.named_parameters())
    acc: dict[str, list[float]] = {}
    for name, p in before.named_parameters():
        d = (a[name].detach().float().cpu() - p.detach().float().cpu()).pow(2).sum().item()
        w = p.detach().float().cpu().pow(2).sum().item()
        g = acc.setdefault(_group(name), [0.0, 0.0])
        g[0] += d
        g[1] += w
    rows = [dict(group=g, relative_change=math.sqrt(d / w) if w > 0 else float("nan")) for g, (d, w) in acc.items()]
    frame = pd.DataFrame(rows)
    frame["layer"] = frame.group.str.extract(r"layer (\d+)")[0].astype(float)
    return frame


def knowledge_readout(lens: torch.Tensor, facts: pd.DataFrame, world) -> pd.DataFrame:
    """Per layer: share of facts whose value is the top word among the relation's values, and the mean log-prob
    of the value, from ``logit_lens`` output over ``facts`` (one prompt per fact, in order)."""
    tok = world.tokenizer
    domain = {r: sorted(v) for r, v in value_domain(world).items()}
    rows = []
    for i, f in enumerate(facts.itertuples()):
        cand = tok.convert_tokens_to_ids(domain[f.relation])
        truth = tok.convert_tokens_to_ids(f.value)
        for layer in range(lens.shape[1]):
            lp = lens[i, layer]
            top = cand[int(lp[cand].argmax())]
            rows.append(dict(fact=i, layer=layer, top1=float(top == truth), logp=float(lp[truth]), mentions=f.mentions))
    return pd.DataFrame(rows)


def fact_prompts(world, facts: pd.DataFrame) -> list[str]:
    """The plain closed-book questions (the corpus's Q&A format) of ``facts``."""
    return [world.fact_prompt(e, r) for e, r in zip(facts.entity, facts.relation)]


def lens_table(models_: dict[str, torch.nn.Module], world, facts: pd.DataFrame) -> pd.DataFrame:
    """``knowledge_readout`` per model (e.g. base and direct), layers numbered from 1."""
    prompts = fact_prompts(world, facts)
    frames = [knowledge_readout(hooks.logit_lens(m, world.tokenizer, prompts, model_pad_id(m)), facts, world)
              .assign(model=name)
              for name, m in models_.items()]
    out = pd.concat(frames, ignore_index=True)
    out["layer"] += 1
    return out


@torch.no_grad()
def layer_restore(base: torch.nn.Module, tuned: torch.nn.Module, world, facts: pd.DataFrame) -> pd.DataFrame:
    """Causal test: the tuned model with one decoder layer (or the embedding) put back to the base's weights,
    and its closed-book top-1 over the relation's values on ``facts``. Rows: 'none' (tuned as is), each
    layer, 'embedding', 'all' (= the base)."""
    prompts = fact_prompts(world, facts)
    tok = world.tokenizer
    domain = {r: sorted(v) for r, v in value_domain(world).items()}

    def top1(model) -> np.ndarray:
        lp = probe.probs_matrix(model, tok, prompts, list(range(len(tok))))
        out = []
        for i, f in enumerate(facts.itertuples()):
            cand = tok.convert_tokens_to_ids(domain[f.relation])
            out.append(float(cand[int(np.argmax(lp[i, cand]))] == tok.convert_tokens_to_ids(f.value)))
        return np.array(out)

    rows = [dict(restored="none (tuned)", **_acc(top1(tuned)))]
    for i in range(len(hooks.decoder_layers(base))):
        m = hooks.restored(tuned, base, lambda n, i=i: n.startswith(f"model.layers.{i}."))
        rows.append(dict(restored=f"layer {i + 1}", **_acc(top1(m))))
    m = hooks.restored(tuned, base, lambda n: n.startswith("model.embed_tokens."))  # tied: the output layer too
    rows.append(dict(restored="embedding", **_acc(top1(m))))
    rows.append(dict(restored="all (base)", **_acc(top1(base))))
    return pd.DataFrame(rows)


def _acc(v: np.ndarray) -> dict:
    lo, hi = stats.wilson_interval(int(v.sum()), len(v))
    return dict(top1=float(v.mean()), ci_low=lo, ci_high=hi, facts=len(v))
