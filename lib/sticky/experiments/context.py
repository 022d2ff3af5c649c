"""Chapter 4: strong priors beat counterfactual context; prompting cannot inject absent knowledge.

Sources: Yu, Merullo & Pavlick 2023 (arXiv 2310.15910) for the context-versus-prior conflict and its heads;
Du et al. 2024 (frequency and susceptibility); the knowledge-injection survey of Song et al. 2025 and KPPO
(arXiv 2511.10465) for 4b. The protocol, as the notebook calls it:

1. ``reader``: the shared base model, then a short *reading course* (continued pre-training on its own corpus
   plus extra passage -> question -> answer documents, a quarter of them counterfactual), because the base
   model of the introduction hardly reads context at all (measured in the chapter, ``context_following``).
2. ``conflict_prompts`` writes "<passage stating another value> q : <question> a :" for every fact the model
   answers correctly closed-book; ``answer`` scores each prompt by the greedy next token over the whole
   vocabulary: in-context (= the passage's value), memorized (= the fact's value) or other.
3. ``frequency_analysis``: per-fact in-context rate against log mentions (the exact frequency dial) and per
   prompt against log corpus count of the context value; Spearman with bootstrap intervals over facts.
4. ``PROMPT_VARIANTS``: prompt-only interventions (a cue repeated in the question, an instruction, the
   passage three times), compared on strong priors with a paired bootstrap over facts.
5. ``logit_attribution``: direct logit attribution of every head at the last position, memory minus
   context logit, through the (frozen) normalisations; ``pick_heads`` on a selection split; ``scaling_sweep``
   multiplies one head's output (its slice of ``o_proj``'s input) over a grid; the chosen head and factor are
   evaluated on the held-out split next to random-head placebos and a correct-context control.
6. 4b: ``elicitation_candidates`` (>= 20 prompts: templates, instructions, few-shot sets that never contain
   the queried answer), ``provision`` (the fact in context) and ``finetune`` (continued training on the facts,
   several seeds), on absent (held-out) and present facts.
7. ``real_*``: the same conflict, interventions and heads on Gemma-3-270M with ``data/facts/countries.csv``
   and ``wordfreq`` Zipf frequencies as the frequency proxy.
8. ``verdict_*``: the rules the chapter states before the results; ``scorecard`` collects the rows.
"""

from __future__ import annotations

import math
import random
import zlib
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from sticky import models, plots, probe, seeds, stats, train
from sticky import scorecard as scorecards
from sticky.params import Param, Spec, number_list
from sticky.store import Recipe, Store
from sticky.world import documents as docs

CHAPTER = "context"
DATA = Path(__file__).resolve().parents[3] / "data" / "facts"
PAPER_ONE_HEAD_RATE = 0.88  # in-context rate after scaling one head, on new data (Yu et al., abstract)
PERSON_RELATIONS = ("lives_in", "works_as", "has_pet")  # the relations the reading course's stories use
ABSENT_RELATIONS = tuple(docs.RELATIONS)  # 4b uses every relation; chance is per relation
REAL_MODELS = ("none", *models.PACKAGED)
HIGH_RATE = 0.80  # "a high in-context rate" (the paper's 88% with a margin for a tiny model)
# The base after the reading course; a fine-tuning run on facts, scored (not kept).
READER_RECIPE = Recipe("context-reader", 1)
FINETUNE_RECIPE = Recipe("context-finetune", 1)
LIFT = 0.10  # a prompt-only intervention "works" when it lifts the strong-prior rate by >= 10 points


PARAMETERS = Spec(
    model=Param(str, "micro-world base model size", default="micro-m", choices=tuple(models.MICRO_CONFIGS)),
    seed=Param(int, "seed of the base model, the reading course, the prompts and the splits", default=0, low=0),
    world_seed=Param(int, "seed of the generated micro-world", default=0, low=0),
    reader_steps=Param(int, "steps of the reading course (continued pre-training with extra passages)", low=0,
                       high=100_000, by_profile={"smoke": 20, "book": 300, "paper": 2000}),
    reader_share=Param(float, "share of the reading course's documents that are passage -> question -> answer",
                       low=0, high=1, open_high=True, default=0.3),
    reader_counterfactual=Param(float, "share of the reading course's passages that contradict a known fact",
                                low=0, high=1, default=0.0),
    contexts_per_fact=Param(int, "counterfactual passages per kept fact (each a different context value)", low=1,
                            high=20, by_profile={"smoke": 2, "book": 4, "paper": 8}),
    scale_factors=Param(str, "factors that multiply one head's output in the scaling sweep",
                        default="-2,-1,0,0.5,2,4,8"),
    placebo_heads=Param(int, "random heads scaled as a placebo (at the chosen factor)", low=1, high=64,
                        by_profile={"smoke": 2, "book": 6, "paper": 10}),
    finetune_steps=Param(int, "steps of fine-tuning on the facts (4b, condition c)", low=1, high=100_000,
                         by_profile={"smoke": 5, "book": 150, "paper": 600}),
    finetune_seeds=Param(int, "seeds of the fine-tuning (data order)", low=1, high=10,
                         by_profile={"smoke": 1, "book": 3, "paper": 5}),
    real_model=Param(str, "real model of the second track (none skips it)", choices=REAL_MODELS,
                     by_profile={"smoke": "none", "book": "gemma-3-270m", "paper": "gemma-3-270m"}),
    real_countries=Param(int, "countries of data/facts/countries.csv used on the real-model track", low=4,
                         high=68, by_profile={"smoke": 8, "book": 40, "paper": 68}),
    real_contexts_per_country=Param(int, "counterfactual context cities per country on the real track", low=1,
                                    high=10, by_profile={"smoke": 2, "book": 3, "paper": 6}),
    device=Param(str, "where to train and measure: auto picks CUDA when present", default="auto",
                 choices=("auto", "cpu", "cuda")),
)


def resolve(namespace) -> object:
    """``PARAMETERS.resolve`` plus the check of the factor list."""
    P = PARAMETERS.resolve(namespace)
    P.factors = number_list("scale_factors", P.scale_factors, float, -100, 100)
    return P


# ---------------------------------------------------------------------------------------------------------
# 1. the reading course


def reading_course_texts(world, share: float, counterfactual: float, seed: int) -> list[str]:
    """The world's pre-training documents plus new passage -> question -> answer documents making ``share`` of
    the total. They come from the world's own ``contexts`` generator; of them, ``counterfactual`` contradict a
    known fact of the world (the generator writes a quarter so; we keep the share asked for), the rest are
    about story-only people, whose facts the model cannot know."""
    background = list(world.pretrain["text"])
    n_extra = round(len(background) * share / (1 - share))
    known = set(world.facts.entity[~world.facts.held_out])
    n_cf = round(n_extra * counterfactual)
    story, contra, batch = [], [], 0
    while len(story) < n_extra - n_cf or len(contra) < n_cf:
        for text in docs.contexts(max(n_extra, 100), world.facts, random.Random(f"reading-course-{seed}-{batch}")):
            (contra if known & set(text.split(" ")) else story).append(text)
        batch += 1
    texts = background + story[: n_extra - n_cf] + contra[:n_cf]
    seeds.rng(seed, "reading-order").shuffle(texts)
    return texts


def reader(base, steps: int, share: float, counterfactual: float, seed: int, device: str = "auto",
           store: Store | None = None):
    """(model, store entry name): the base model after the reading course (cached under the base model's
    entry); with ``steps == 0``, the base model itself."""
    if steps == 0:
        return base.model, base.entry.name
    store = store or Store()
    recipe = dict(base.recipe)
    cfg = train.TrainConfig(steps=steps, batch_size=recipe["batch_size"], seq_len=recipe["seq_len"], lr=1e-3,
                            warmup_steps=max(1, steps // 15), min_lr_ratio=0.1, seed=seeds.stream(seed, "reading-course"), device=device)

    def build(folder: Path) -> None:
        model = models.load_entry(base.entry)
        tok = base.tokenizer
        ids = tok(reading_course_texts(base.world, share, counterfactual, seed), add_special_tokens=False)["input_ids"]
        blocks = train.pack(ids, cfg.seq_len, tok.bos_token_id, tok.eos_token_id)
        history = train.pretrain(model, blocks, cfg)
        model.save_pretrained(folder)
        history.to_frame().to_csv(folder / "history.csv", index=False)

    params = dict(steps=steps, share=share, counterfactual=counterfactual, seed=seed,
                  cfg={k: v for k, v in vars(cfg).items() if k != "device"})
    entry = store.cached(READER_RECIPE, params, build, inputs=[base.entry.name], device=train.device_type(device))
    return models.load_entry(entry), entry.name


def context_following(model, world, seed: int = 0) -> pd.DataFrame:
    """Does the model read context at all? Facts of held-out entities (it has no prior) stated in a passage,
    then asked: the share answered with the passage's value, per relation, with Wilson intervals."""
    facts = world.facts[world.facts.held_out].reset_index(drop=True)
    prompts = [world.context_question(e, r, v, cue=i, paraphrase=i)
               for i, (e, r, v) in enumerate(zip(facts.entity, facts.relation, facts.value))]
    scored = answer(model, world.tokenizer, prompts, list(facts.value), list(facts.value))
    frame = facts.assign(in_context=scored.memorized, memorized=False, fact=facts.entity + ":" + facts.relation)
    table = pd.concat([rates_by(frame, "relation"), rates_by(frame.assign(relation="all"), "relation")])
    return table[["relation", "in_context_rate", "ci_low", "ci_high", "n"]].reset_index(drop=True)


# ---------------------------------------------------------------------------------------------------------
# 2. prompts and answers


def _split(entity: str, seed: int) -> str:
    """A fixed half of the entities selects heads and factors; the other half evaluates them."""
    return "selection" if zlib.crc32(f"{seed}-{entity}".encode()) % 2 == 0 else "held-out"


def token_counts(world) -> dict[str, int]:
    """Occurrences of every word in the pre-training corpus."""
    from collections import Counter

    return Counter(w for text in world.pretrain["text"] for w in text.split(" "))


def conflict_prompts(world, recall: pd.DataFrame, per_fact: int, seed: int,
                     relations: tuple[str, ...] = PERSON_RELATIONS) -> pd.DataFrame:
    """One row per (kept fact, context value): the facts of ``relations`` that ``recall`` (from
    ``intro.closed_book_recall``) answers correctly, each with ``per_fact`` other values of its relation as the
    passage's value, cues and paraphrases rotating. Adds the corpus count of the context value and the split."""
    kept = recall[recall.correct & ~recall.held_out & recall.relation.isin(relations)]
    domain = {r: sorted(set(world.facts.value[world.facts.relation == r])) for r in relations}
    counts = token_counts(world)
    rows = []
    for f in kept.itertuples():
        rng = random.Random(f"conflict-{seed}-{f.entity}-{f.relation}")
        others = rng.sample([v for v in domain[f.relation] if v != f.value], per_fact)
        for j, value in enumerate(others):
            cue, para = (j + rng.randrange(5)) % len(docs.CONTEXT_CUES), rng.randrange(10)
            rows.append(dict(fact=f"{f.entity}:{f.relation}", entity=f.entity, relation=f.relation, memory=f.value,
                             context=value, mentions=int(f.mentions), context_count=int(counts[value]), cue=cue,
                             paraphrase=para, split=_split(f.entity, seed),
                             prompt=world.context_question(f.entity, f.relation, value, cue=cue, paraphrase=para)))
    return pd.DataFrame(rows)


def _check_vocabulary(tokenizer, prompts: list[str]) -> None:
    vocab = set(tokenizer.get_vocab())
    missing = sorted({w for p in prompts for w in p.split(" ")} - vocab)
    if missing:
        raise ValueError(f"prompt words outside the world's vocabulary: {missing[:8]}; allowed: its words only")


def answer(model, tokenizer, prompts: list[str], memory: list[str], context: list[str],
           batch_size: int = 64) -> pd.DataFrame:
    """The greedy next token after each prompt (argmax over the whole vocabulary), whether it is the context
    or the memory value (their first token after a space on real tokenizers), and the log-probability gap
    log p(memory) - log p(context)."""
    mem = _first_tokens(tokenizer, memory)
    ctx = _first_tokens(tokenizer, context)
    pred = np.empty(len(prompts), dtype=np.int64)
    gap = np.empty(len(prompts))
    for idx, logp in probe.last_logprobs(model, tokenizer, prompts, batch_size):
        pred[idx] = logp.argmax(-1).cpu().numpy()
        rows = torch.arange(len(idx))
        gap[idx] = (logp[rows, torch.tensor(mem[idx])] - logp[rows, torch.tensor(ctx[idx])]).cpu().numpy()
    return pd.DataFrame(dict(predicted=tokenizer.convert_ids_to_tokens(pred.tolist()), in_context=pred == ctx,
                             memorized=pred == mem, memory_minus_context=gap))


def _first_tokens(tokenizer, words: list[str]) -> np.ndarray:
    """The token of each word: itself in the micro-world's word-level vocabulary, else the first token of
    " word" (how it follows a space on a real tokenizer)."""
    vocab = tokenizer.get_vocab()
    if all(w in vocab for w in words):
        return np.array([vocab[w] for w in words], dtype=np.int64)
    return np.array([tokenizer(" " + w, add_special_tokens=False)["input_ids"][0] for w in words], dtype=np.int64)


# ---------------------------------------------------------------------------------------------------------
# 3. rates and the frequency analysis (pure functions; checked by hand in the tests)


def rate(successes: int, n: int) -> dict:
    """A share with its Wilson 95% interval."""
    if n == 0:
        return dict(rate=np.nan, ci_low=np.nan, ci_high=np.nan, n=0)
    low, high = stats.wilson_interval(int(successes), int(n))
    return dict(rate=successes / n, ci_low=low, ci_high=high, n=int(n))


def rates_by(frame: pd.DataFrame, by: str | list[str]) -> pd.DataFrame:
    """In-context, memorized and other rates per group; the denominator ``n`` counts every prompt of the group,
    answers that are neither value included (the ``other_rate``)."""
    rows = []
    for key, g in frame.groupby(by, sort=True):
        r = rate(int(g.in_context.sum()), len(g))
        rows.append({**(dict(zip(by, key)) if isinstance(by, list) else {by: key}),
                     "in_context_rate": r["rate"], "ci_low": r["ci_low"], "ci_high": r["ci_high"],
                     "memorized_rate": g.memorized.mean(), "other_rate": 1 - g.in_context.mean() - g.memorized.mean(),
                     "n": r["n"], "facts": g.fact.nunique() if "fact" in g else np.nan})
    return pd.DataFrame(rows)


def per_fact(frame: pd.DataFrame) -> pd.DataFrame:
    """Each fact's in-context rate over its prompts, with its log10 mentions."""
    g = frame.groupby("fact", sort=False)
    return pd.DataFrame(dict(in_context_rate=g.in_context.mean(), memorized_rate=g.memorized.mean(),
                             mentions=g.mentions.first(), prompts=g.size())).reset_index()


def frequency_analysis(frame: pd.DataFrame, x: str = "mentions", seed: int = 0, n_resamples: int = 1000) -> dict:
    """Spearman's rho of the per-fact in-context rate against log10 of the fact's frequency ``x``, with a
    bootstrap interval over facts; and rho of the per-prompt in-context indicator against log10 of the
    context value's frequency (``context_count``), bootstrap over prompts."""
    facts = frame.groupby("fact", sort=False).agg(rate=("in_context", "mean"), freq=(x, "first"))
    out = {"facts": len(facts), "prompts": len(frame)}
    rho = lambda a, b: stats.spearman(a, b)[0]
    for name, (a, b) in {"fact": (np.log10(facts.freq.to_numpy(float)), facts.rate.to_numpy(float)),
                         "context": (np.log10(frame.context_count.to_numpy(float)),
                                     frame.in_context.to_numpy(float))}.items():
        r, p, lo, hi = (np.nan,) * 4
        if len(a) >= 5 and np.ptp(a) > 0 and np.ptp(b) > 0:
            r, p = stats.spearman(a, b)
            _, lo, hi = stats.bootstrap(a, b, rho, n_resamples=n_resamples, seed=seed)
        out |= {f"rho_{name}": r, f"p_{name}": p, f"rho_{name}_low": lo, f"rho_{name}_high": hi}
    return out


def paired_lift(base: pd.DataFrame, other: pd.DataFrame, seed: int = 0, n_resamples: int = 1000) -> tuple:
    """(lift, low, high): mean per-fact in-context rate of ``other`` minus ``base`` (same prompts, same facts),
    with a bootstrap interval over facts."""
    a = base.groupby("fact").in_context.mean()
    b = other.groupby("fact").in_context.mean().loc[a.index]
    if len(a) < 2:
        return float(b.mean() - a.mean()), np.nan, np.nan
    return stats.bootstrap(a.to_numpy(float), b.to_numpy(float), lambda x, y: float(np.mean(y - x)),
                           n_resamples=n_resamples, seed=seed)


# ---------------------------------------------------------------------------------------------------------
# 4. prompt-only interventions (micro-world wording: only words the world's vocabulary has)

PROMPT_VARIANTS = {
    "baseline": "the passage, then the question",
    "according to the note": "the passage's cue also opens the question",
    "instruction": "the question asks to answer from the story",
    "passage three times": "the passage repeated three times",
}


def variant_prompt(world, row, variant: str) -> str:
    """The conflict prompt of ``row`` rewritten by a prompt-only intervention (``PROMPT_VARIANTS``)."""
    cue = docs.CONTEXT_CUES[row.cue % len(docs.CONTEXT_CUES)]
    passage = f"{cue} {docs.fact_statement(row.entity, row.relation, row.context, row.paraphrase)}"
    question = docs.fact_query(row.entity, row.relation, 0)
    t = world.chat_templates[0]
    if variant == "baseline":
        return f"{passage} {t.prompt(question)}"
    if variant == "according to the note":
        note = f"according to the note , {docs.fact_statement(row.entity, row.relation, row.context, row.paraphrase)}"
        return f"{note} {t.prompt('according to the note , ' + question)}"
    if variant == "instruction":
        return f"{passage} {t.prompt('please answer from the story . ' + question)}"
    if variant == "passage three times":
        return f"{passage} {passage} {passage} {t.prompt(question)}"
    raise ValueError(f"unknown prompt variant {variant!r}; allowed: {', '.join(PROMPT_VARIANTS)}")


def prompt_interventions(model, world, prompts: pd.DataFrame) -> pd.DataFrame:
    """Every conflict prompt under every variant, scored; one row per (prompt, variant)."""
    frames = []
    for variant in PROMPT_VARIANTS:
        texts = [variant_prompt(world, r, variant) for r in prompts.itertuples()]
        _check_vocabulary(world.tokenizer, texts)
        scored = answer(model, world.tokenizer, texts, list(prompts.memory), list(prompts.context))
        frames.append(pd.concat([prompts.reset_index(drop=True).assign(variant=variant, text=texts), scored], axis=1))
    return pd.concat(frames, ignore_index=True)


def intervention_summary(scored: pd.DataFrame, seed: int = 0) -> pd.DataFrame:
    """Per variant: in-context rate (Wilson) and its paired lift over the baseline (bootstrap over facts)."""
    base = scored[scored.variant == "baseline"]
    rows = []
    for variant, g in scored.groupby("variant", sort=False):
        r = rate(int(g.in_context.sum()), len(g))
        lift, lo, hi = paired_lift(base, g, seed) if variant != "baseline" else (0.0, 0.0, 0.0)
        rows.append(dict(variant=variant, in_context_rate=r["rate"], ci_low=r["ci_low"], ci_high=r["ci_high"],
                         lift=lift, lift_low=lo, lift_high=hi, n=r["n"], facts=g.fact.nunique()))
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------------------------------------
# 5. heads: direct logit attribution and scaling


def _norm_gain(norm: torch.nn.Module, d: int) -> torch.Tensor:
    """The elementwise gain of an RMS norm (``w`` for Llama, ``1 + w`` for Gemma): its output on a vector of
    ones, whose RMS is 1."""
    with torch.no_grad():
        return norm(torch.ones(1, d, dtype=torch.float32, device=next(norm.parameters()).device))[0].float().cpu()


def _eps(norm) -> float:
    return float(getattr(norm, "variance_epsilon", getattr(norm, "eps", 1e-6)))


def _final_norm(model):
    inner = getattr(model, "model", model)
    return inner.norm


@torch.no_grad()
def logit_attribution(model, tokenizer, prompts: list[str], memory: list[str], context: list[str],
                      batch_size: int = 32) -> np.ndarray:
    """LD[i, L, H] = <head write, W_U[memory_i]> - <head write, W_U[context_i]> at the last position
    (positive: the head pushes the memorized answer), with every normalisation between the head and the
    logits frozen at its value on that prompt: the final norm, and on Gemma-style blocks the norm applied to
    the attention output before it joins the residual stream."""
    writes = probe.head_contributions(model, tokenizer, prompts, batch_size)  # [n, L, H, d]
    layers = probe.decoder_layers(model)
    d = writes.shape[-1]
    sandwich = all(hasattr(layer, "pre_feedforward_layernorm") for layer in layers)  # Gemma: attn -> norm -> +
    norms = ([layer.post_attention_layernorm for layer in layers] if sandwich else []) + [_final_norm(model)]
    captured: dict[int, torch.Tensor] = {}

    def capture(i):
        def hook(module, args):
            x = args[0][:, -1].float()
            captured[i] = torch.sqrt(x.pow(2).mean(-1) + _eps(module)).cpu()  # RMS of the norm's input

        return hook

    handles = [n.register_forward_pre_hook(capture(i)) for i, n in enumerate(norms)]
    rows = probe.encode(tokenizer, prompts, special=True)
    pad, device = probe.pad_id(tokenizer), probe.model_device(model)
    rms = torch.empty(len(prompts), len(norms))
    try:
        model.eval()
        for idx in probe.length_batches([len(r) for r in rows], batch_size):
            model(**probe.left_pad([rows[i] for i in idx], pad, device), logits_to_keep=1, use_cache=False)
            for i in range(len(norms)):
                rms[idx, i] = captured[i]
    finally:
        for h in handles:
            h.remove()
    gains = torch.stack([_norm_gain(n, d) for n in norms])  # [len(norms), d]
    scaled = writes
    if sandwich:
        scaled = scaled * gains[:-1][None, :, None, :] / rms[:, :-1, None, None]
    scaled = scaled * gains[-1] / rms[:, -1, None, None, None]
    unembed = model.get_output_embeddings().weight.detach().float().cpu()
    direction = unembed[_first_tokens(tokenizer, memory)] - unembed[_first_tokens(tokenizer, context)]  # [n, d]
    return torch.einsum("nlhd,nd->nlh", scaled, direction).numpy()


def head_name(layer: int, head: int) -> str:
    return f"blocks.{layer}.attn.head.{head}"


def pick_heads(ld: np.ndarray) -> dict[str, str]:
    """The memory head (largest mean LD: pushes the memorized answer) and the context head (smallest mean LD)."""
    mean = ld.mean(0)
    mem = np.unravel_index(np.argmax(mean), mean.shape)
    ctx = np.unravel_index(np.argmin(mean), mean.shape)
    return {"memory": head_name(*map(int, mem)), "context": head_name(*map(int, ctx))}


def attribution_table(ld: np.ndarray) -> pd.DataFrame:
    """Mean and standard error of LD per head, sorted from the strongest memory head down."""
    n, L, H = ld.shape
    rows = [dict(head=head_name(l, h), layer=l, index=h, mean_ld=float(ld[:, l, h].mean()),
                 se=float(ld[:, l, h].std(ddof=1) / math.sqrt(n)) if n > 1 else np.nan)
            for l in range(L) for h in range(H)]
    return pd.DataFrame(rows).sort_values("mean_ld", ascending=False).reset_index(drop=True)


def scaled_answers(model, tokenizer, prompts: pd.DataFrame, scales: dict[str, float]) -> pd.DataFrame:
    """``answer`` with the named heads' outputs multiplied by their factors (``probe.scale_heads``)."""
    with probe.scale_heads(model, scales):
        scored = answer(model, tokenizer, list(prompts.prompt), list(prompts.memory), list(prompts.context))
    return pd.concat([prompts.reset_index(drop=True), scored], axis=1)


def scaling_sweep(model, tokenizer, prompts: pd.DataFrame, heads: dict[str, str], factors: list[float]) -> pd.DataFrame:
    """In-context rate for each (role, head, factor): one head scaled at a time; factor 1 is the baseline."""
    rows = []
    for role, head in heads.items():
        for f in sorted({1.0, *factors}):
            s = scaled_answers(model, tokenizer, prompts, {head: f})
            r = rate(int(s.in_context.sum()), len(s))
            rows.append(dict(role=role, head=head, factor=f, in_context_rate=r["rate"], ci_low=r["ci_low"],
                             ci_high=r["ci_high"], memorized_rate=s.memorized.mean(), n=r["n"]))
    return pd.DataFrame(rows)


def best_setting(sweep: pd.DataFrame) -> dict:
    """The (role, head, factor) with the highest in-context rate on the selection split (ties: the factor
    closest to 1, the smallest intervention)."""
    s = sweep[sweep.factor != 1.0].assign(dist=lambda d: (d.factor - 1).abs())
    best = s.sort_values(["in_context_rate", "dist"], ascending=[False, True]).iloc[0]
    return dict(role=best["role"], head=best["head"], factor=float(best["factor"]))


def placebo_heads(model, exclude: list[str], n: int, seed: int) -> list[str]:
    """``n`` random heads other than ``exclude`` (the chosen ones)."""
    layers = probe.decoder_layers(model)
    n_heads = layers[0].self_attn.o_proj.in_features // layers[0].self_attn.head_dim
    pool = [head_name(l, h) for l in range(len(layers)) for h in range(n_heads) if head_name(l, h) not in exclude]
    return seeds.rng(seed, "placebo").sample(pool, min(n, len(pool)))


def correct_context_prompts(world, prompts: pd.DataFrame) -> pd.DataFrame:
    """The same facts with a passage that states the *true* value (context = memory)."""
    facts = prompts.drop_duplicates("fact").reset_index(drop=True)
    texts = [world.context_question(r.entity, r.relation, r.memory, cue=r.cue, paraphrase=r.paraphrase)
             for r in facts.itertuples()]
    return facts.assign(context=facts.memory, prompt=texts)


def head_evaluation(model, tokenizer, held_out: pd.DataFrame, correct: pd.DataFrame, setting: dict,
                    placebos: list[str], seed: int = 0) -> pd.DataFrame:
    """On held-out prompts: baseline, the chosen head at the chosen factor, each placebo head at that factor;
    and the accuracy on correct-context prompts under the same conditions. Lifts are paired over facts."""
    base = scaled_answers(model, tokenizer, held_out, {})
    base_ok = scaled_answers(model, tokenizer, correct, {})
    conditions = [("baseline", {}), (f"{setting['role']} head {setting['head']}", {setting["head"]: setting["factor"]})]
    conditions += [(f"placebo {h}", {h: setting["factor"]}) for h in placebos]
    rows = []
    for name, scales in conditions:
        s = scaled_answers(model, tokenizer, held_out, scales) if scales else base
        ok = scaled_answers(model, tokenizer, correct, scales) if scales else base_ok
        r = rate(int(s.in_context.sum()), len(s))
        lift, lo, hi = paired_lift(base, s, seed) if scales else (0.0, 0.0, 0.0)
        c = rate(int(ok.in_context.sum()), len(ok))
        rows.append(dict(condition=name, kind="baseline" if not scales else "placebo" if name.startswith("placebo")
                         else "chosen", in_context_rate=r["rate"], ci_low=r["ci_low"], ci_high=r["ci_high"],
                         lift=lift, lift_low=lo, lift_high=hi, n=r["n"], correct_context_accuracy=c["rate"],
                         correct_low=c["ci_low"], correct_high=c["ci_high"], correct_n=c["n"]))
    return pd.DataFrame(rows)


def head_experiment(model, tokenizer, prompts: pd.DataFrame, correct: pd.DataFrame, factors: list[float],
                    n_placebo: int, seed: int) -> dict:
    """The whole head protocol on conflict ``prompts`` (with a ``split`` column): attribution and head choice
    on the selection split, the scaling sweep there, then baseline / chosen / placebos and the
    correct-context control on the held-out split."""
    sel, held = prompts[prompts.split == "selection"], prompts[prompts.split == "held-out"]
    ld = logit_attribution(model, tokenizer, list(sel.prompt), list(sel.memory), list(sel.context))
    heads = pick_heads(ld)
    sweep = scaling_sweep(model, tokenizer, sel, heads, factors)
    setting = best_setting(sweep)
    placebos = placebo_heads(model, list(heads.values()), n_placebo, seed)
    held_correct = correct[correct.split == "held-out"]
    evaluation = head_evaluation(model, tokenizer, held, held_correct, setting, placebos, seed)
    return dict(attribution=attribution_table(ld), heads=heads, sweep=sweep, setting=setting, placebos=placebos,
                evaluation=evaluation, selection_facts=sel.fact.nunique(), held_out_facts=held.fact.nunique())


def strong_rungs(world, n: int = 3) -> list[int]:
    """The top ``n`` rungs of the world's mention ladder: the strong priors."""
    return sorted(world.config.mention_ladder)[-n:]


# ---------------------------------------------------------------------------------------------------------
# 6. 4b: prompting cannot inject absent knowledge

INSTRUCTIONS = ["please answer the question .", "tell me the answer .", "read the question and answer it ."]
FEW_SHOT_SIZES = (1, 2, 3)
FEW_SHOT_TEMPLATES = ("qa", "asks")


def absent_facts(world) -> pd.DataFrame:
    """Every fact of ``ABSENT_RELATIONS`` with its presence: 'absent' (held-out entity, never written) or its
    mention rung; ``chance`` is one over the number of values of its relation."""
    facts = world.facts[world.facts.relation.isin(ABSENT_RELATIONS)].copy()
    facts["presence"] = np.where(facts.held_out, "absent", facts.mentions.astype(str))
    facts["chance"] = 1 / facts.groupby("relation").value.transform("nunique")
    facts["fact"] = facts.entity + ":" + facts.relation
    return facts.reset_index(drop=True)


def _demo_pool(world, rungs: list[int]) -> pd.DataFrame:
    """Facts the few-shot sets may show: present at the top rungs (the model knows them)."""
    f = world.facts
    return f[~f.held_out & f.mentions.isin(rungs)].reset_index(drop=True)


def elicitation_candidates(world) -> list[dict]:
    """>= 20 elicitation-only prompt designs: every chat template x question wording, instructions before the
    question, and few-shot sets of other facts (1-3 shots, two templates). None states the queried fact."""
    cands = [dict(name=f"{t.name} / wording {v}", kind="template", template=t.name, variant=v, instruction="",
                  shots=0) for t in world.chat_templates for v in (0, 1)]
    cands += [dict(name=f"instruction: {i}", kind="instruction", template="qa", variant=0, instruction=i, shots=0)
              for i in INSTRUCTIONS]
    cands += [dict(name=f"{k}-shot / {t}", kind="few-shot", template=t, variant=0, instruction="", shots=k)
              for t in FEW_SHOT_TEMPLATES for k in FEW_SHOT_SIZES]
    return cands


def elicitation_prompt(world, cand: dict, entity: str, relation: str, answer_value: str, pool: pd.DataFrame,
                       seed: int) -> str:
    """The prompt of one candidate for one fact. Few-shot demonstrations are other entities' facts of the
    same relation whose value differs from the queried answer, so the answer never appears in the prompt."""
    t = world.template(cand["template"])
    question = docs.fact_query(entity, relation, cand["variant"])
    user = f"{cand['instruction']} {question}".strip()
    shots = []
    if cand["shots"]:
        rng = random.Random(f"shots-{seed}-{cand['name']}-{relation}")
        demos = pool[(pool.relation == relation) & (pool.entity != entity) & (pool.value != answer_value)]
        for d in demos.sample(n=min(cand["shots"], len(demos)), random_state=rng.randrange(2**31)).itertuples():
            shots.append(docs.render(t, docs.fact_query(d.entity, d.relation, cand["variant"]), f"{d.value} ."))
    return " ".join([*shots, t.prompt(user)])


def leakage(prompts: pd.DataFrame) -> pd.DataFrame:
    """The (candidate, fact) prompts that contain the queried answer as a word (should be none)."""
    hit = [a in p.split(" ") for p, a in zip(prompts.prompt, prompts.value)]
    return prompts[hit]


def elicitation_search(model, world, facts: pd.DataFrame, seed: int) -> pd.DataFrame:
    """Every candidate on every fact: one row per (candidate, fact) with ``correct`` (greedy = answer)."""
    pool = _demo_pool(world, strong_rungs(world))
    rows = []
    for cand in elicitation_candidates(world):
        for f in facts.itertuples():
            rows.append(dict(candidate=cand["name"], kind=cand["kind"], fact=f.fact, relation=f.relation,
                             presence=f.presence, chance=f.chance, value=f.value, split=_split(f.entity, seed),
                             prompt=elicitation_prompt(world, cand, f.entity, f.relation, f.value, pool, seed)))
    frame = pd.DataFrame(rows)
    _check_vocabulary(world.tokenizer, list(frame.prompt))
    return _score_closed(model, world.tokenizer, frame)


def _score_closed(model, tokenizer, frame: pd.DataFrame) -> pd.DataFrame:
    scored = answer(model, tokenizer, list(frame.prompt), list(frame.value), list(frame.value))
    return frame.reset_index(drop=True).assign(predicted=scored.predicted, correct=scored.memorized)


def presence_group(presence: pd.Series, rungs: list[int]) -> pd.Series:
    """'absent', or 'present, <= r mentions' bands: rare (lowest third of rungs), medium, frequent (top)."""
    ladder = sorted(rungs)
    third = max(1, len(ladder) // 3)
    low, high = ladder[third - 1], ladder[-third]

    def band(p: str) -> str:
        if p == "absent":
            return "absent"
        m = int(p)
        return "rare" if m <= low else "frequent" if m >= high else "medium"

    return presence.map(band)


def best_elicitation(search: pd.DataFrame) -> pd.DataFrame:
    """Per presence group: the candidate with the best accuracy on the selection split, its accuracy on the
    held-out split (Wilson), and the oracle best accuracy over all facts (an optimistic upper bound)."""
    rows = []
    for group, g in search.groupby("group", sort=False):
        sel = g[g.split == "selection"].groupby("candidate").correct.mean()
        choice = sel.idxmax() if len(sel) else g.candidate.iloc[0]
        ev = g[(g.split == "held-out") & (g.candidate == choice)]
        r = rate(int(ev.correct.sum()), len(ev))
        oracle = g.groupby("candidate").correct.mean()
        rows.append(dict(group=group, condition="elicitation (best prompt)", candidate=choice, accuracy=r["rate"],
                         ci_low=r["ci_low"], ci_high=r["ci_high"], n=r["n"], chance=g.chance.mean(),
                         oracle_accuracy=oracle.max(), oracle_candidate=oracle.idxmax()))
    return pd.DataFrame(rows)


def provision(model, world, facts: pd.DataFrame) -> pd.DataFrame:
    """Condition (b): the fact stated in a passage before the question."""
    frame = facts.assign(prompt=[world.context_question(e, r, v) for e, r, v in zip(facts.entity, facts.relation,
                                                                                     facts.value)])
    return _score_closed(model, world.tokenizer, frame)


FT_TEMPLATES_EXCLUDED = ("qa",)  # fine-tuning never shows the evaluation template


def finetune_texts(world, facts: pd.DataFrame, per_fact: int = 10) -> list[str]:
    """Documents that teach ``facts``: statements in rotating paraphrases and Q&A in every chat template but
    the evaluation one (``qa``), so the closed-book test asks in a format fine-tuning never showed."""
    templates = [t for t in world.chat_templates if t.name not in FT_TEMPLATES_EXCLUDED]
    texts = []
    for f in facts.itertuples():
        for i in range(per_fact):
            if i % 2 == 0:
                texts.append(docs.fact_statement(f.entity, f.relation, f.value, i // 2))
            else:
                t = templates[(i // 2) % len(templates)]
                texts.append(docs.render(t, docs.fact_query(f.entity, f.relation, i // 2), f"{f.value} ."))
    return texts


def finetune(model, world, facts: pd.DataFrame, steps: int, seed: int, key: str, device: str = "auto",
             store: Store | None = None) -> pd.DataFrame:
    """Condition (c): continued training of ``model`` on the facts' documents mixed 1:1 with the world's
    corpus (so it keeps its language); closed-book accuracy afterwards in the ``qa`` template. The model's
    weights are restored afterwards. Cached per starting model (``key``: its store entry), facts, steps, seed."""
    store = store or Store()
    cfg = train.TrainConfig(steps=steps, batch_size=16, seq_len=64, lr=1e-3, warmup_steps=max(1, steps // 10),
                            min_lr_ratio=0.1, seed=seeds.stream(seed, "context-finetune"), device=device)
    params = dict(facts=list(facts.fact), steps=steps, seed=seed,
                  cfg={k: v for k, v in vars(cfg).items() if k != "device"})

    def compute() -> list[bool]:
        start = {k: v.detach().clone() for k, v in model.state_dict().items()}
        tok = world.tokenizer
        taught = finetune_texts(world, facts)
        background = seeds.rng(seed, "ft-bg").sample(list(world.pretrain["text"]), len(taught))
        texts = taught + background
        seeds.rng(seed, "ft-order").shuffle(texts)
        blocks = train.pack(tok(texts, add_special_tokens=False)["input_ids"], cfg.seq_len, tok.bos_token_id,
                            tok.eos_token_id)
        train.pretrain(model, blocks, cfg)
        prompts = [world.fact_prompt(e, r, "qa") for e, r in zip(facts.entity, facts.relation)]
        scored = answer(model, tok, prompts, list(facts.value), list(facts.value))
        model.load_state_dict(start)
        model.eval()
        return [bool(v) for v in scored.memorized]

    correct = store.json(FINETUNE_RECIPE, params, compute, inputs=[key], device=train.device_type(device))
    return facts.assign(correct=correct, seed=seed)


def condition_table(best: pd.DataFrame, provided: pd.DataFrame, tuned: pd.DataFrame) -> pd.DataFrame:
    """Accuracy per condition x presence group, Wilson 95% intervals (fine-tuning: pooled over seeds)."""
    rows = [r for r in best[["group", "condition", "accuracy", "ci_low", "ci_high", "n", "chance"]]
            .to_dict("records")]
    for name, frame in (("fact in context", provided), ("fine-tuning", tuned)):
        for group, g in frame.groupby("group", sort=False):
            r = rate(int(g.correct.sum()), len(g))
            rows.append(dict(group=group, condition=name, accuracy=r["rate"], ci_low=r["ci_low"],
                             ci_high=r["ci_high"], n=r["n"], chance=g.chance.mean()))
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------------------------------------
# 7. the real-model track


def real_pairs(tokenizer, n: int) -> pd.DataFrame:
    """The first ``n`` pairs of ``countries.csv`` whose capital is one token after a space (and whose first
    tokens are all distinct), with the wordfreq Zipf frequency of the country and the city."""
    from wordfreq import zipf_frequency

    pairs = pd.read_csv(DATA / "countries.csv")
    single = [len(tokenizer(" " + c, add_special_tokens=False)["input_ids"]) == 1 for c in pairs.capital]
    pairs = pairs[single].head(n).reset_index(drop=True)
    pairs["country_zipf"] = [zipf_frequency(c, "en") for c in pairs.country]
    pairs["capital_zipf"] = [zipf_frequency(c, "en") for c in pairs.capital]
    return pairs


# The answer is asked as a cloze after "A:" because Gemma's tokenizer writes a bare space token after "A:"
# (the city then follows without its leading space): the cloze makes the city the very next token.
REAL_QUESTION = "Q: What is the capital of {c}? A: The capital of {c} is"
REAL_PASSAGE = "The capital of {c} is {v}."
REAL_VARIANTS = {
    "baseline": "{passage} {question}",
    "according to the passage": "{passage} Q: According to the passage, what is the capital of {c}? A: "
                                "According to the passage, the capital of {c} is",
    "instruction": "Answer the question using only the context.\nContext: {passage}\n{question}",
    "passage three times": "{passage} {passage} {passage} {question}",
}


def real_closed_book(model, tokenizer, pairs: pd.DataFrame) -> pd.DataFrame:
    """Which capitals the model names without context (greedy first token)."""
    prompts = [REAL_QUESTION.format(c=c) for c in pairs.country]
    scored = answer(model, tokenizer, prompts, list(pairs.capital), list(pairs.capital))
    return pairs.assign(predicted=scored.predicted, correct=scored.memorized)


def real_conflicts(known: pd.DataFrame, all_pairs: pd.DataFrame, per_country: int, seed: int) -> pd.DataFrame:
    """Counterfactual rows for the countries the model knows: other capitals of the list as context cities."""
    from wordfreq import zipf_frequency

    rows = []
    for r in known.itertuples():
        rng = random.Random(f"real-{seed}-{r.country}")
        for city in rng.sample([c for c in all_pairs.capital if c != r.capital], per_country):
            rows.append(dict(fact=r.country, entity=r.country, memory=r.capital, context=city,
                             mentions=10 ** r.country_zipf, country_zipf=r.country_zipf,
                             context_count=10 ** zipf_frequency(city, "en"), split=_split(r.country, seed)))
    frame = pd.DataFrame(rows)
    return frame.assign(prompt=[real_prompt(r, "baseline") for r in frame.itertuples()])


def real_prompt(row, variant: str) -> str:
    passage = REAL_PASSAGE.format(c=row.entity, v=row.context)
    return REAL_VARIANTS[variant].format(passage=passage, question=REAL_QUESTION.format(c=row.entity), c=row.entity)


def real_interventions(model, tokenizer, prompts: pd.DataFrame) -> pd.DataFrame:
    frames = []
    for variant in REAL_VARIANTS:
        texts = [real_prompt(r, variant) for r in prompts.itertuples()]
        scored = answer(model, tokenizer, texts, list(prompts.memory), list(prompts.context))
        frames.append(pd.concat([prompts.reset_index(drop=True).assign(variant=variant, text=texts), scored], axis=1))
    return pd.concat(frames, ignore_index=True)


def real_correct_prompts(prompts: pd.DataFrame) -> pd.DataFrame:
    facts = prompts.drop_duplicates("fact").reset_index(drop=True).assign(context=lambda d: d.memory)
    return facts.assign(prompt=[real_prompt(r, "baseline") for r in facts.itertuples()])


def real_track(name: str, n_countries: int, per_country: int, factors: list[float], n_placebo: int, seed: int,
               store: Store | None = None) -> dict:
    """4a on a packaged real model: closed-book filter, conflicts, prompt-only interventions, frequency
    analysis against wordfreq Zipf frequencies, and the head protocol."""
    model, tokenizer = models.load(name, store=store or Store())
    pairs = real_pairs(tokenizer, n_countries)
    closed = real_closed_book(model, tokenizer, pairs)
    prompts = real_conflicts(closed[closed.correct], pairs, per_country, seed)
    scored = real_interventions(model, tokenizer, prompts)
    base = scored[scored.variant == "baseline"]
    median = float(np.median(prompts.country_zipf))
    strong = scored[scored.country_zipf >= median]
    correct = real_correct_prompts(prompts)
    heads = head_experiment(model, tokenizer, prompts, correct, factors, n_placebo, seed)
    return dict(model=model, tokenizer=tokenizer, pairs=pairs, closed=closed, prompts=prompts, scored=scored,
                fit=frequency_analysis(base, seed=seed), strong_zipf=median,
                strong_summary=intervention_summary(strong, seed), weak_base_rate=float(
                    base[base.country_zipf < median].in_context.mean()), strong_facts=strong.fact.nunique(),
                rates=rates_by(base.assign(zipf_bin=base.country_zipf.round(0)), "zipf_bin"), heads=heads,
                describe=models.describe(model))


# ---------------------------------------------------------------------------------------------------------
# 8. verdicts (the rules stated in the chapter before the results) and the scorecard

MIN_FACTS = 10


def verdict_frequency(rho: float, high: float, facts: int) -> str:
    """Frequency predicts override resistance: rho(log frequency, per-fact in-context rate) <= -0.3 with its
    interval below 0: reproduced; interval below 0 but weaker: partly; interval reaching 0 (or above):
    not reproduced. Fewer than MIN_FACTS facts or no interval: inconclusive."""
    if facts < MIN_FACTS or not np.isfinite(high):
        return "inconclusive"
    if high < 0:
        return "reproduced" if rho <= -0.3 else "partly"
    return "not reproduced"


def verdict_prompting(summary: pd.DataFrame, strong_base_rate: float, weak_base_rate: float, facts: int) -> str:
    """Prompt-only interventions fail on strong priors: an intervention *works* when its paired lift on strong
    priors is >= LIFT with its interval above 0. None works: reproduced. One works but leaves strong priors
    below the weak priors' baseline rate: partly. One works and reaches it: not reproduced. Fewer than
    MIN_FACTS strong facts, or a strong-prior baseline already >= 0.9 (nothing to lift): inconclusive."""
    if facts < MIN_FACTS or not np.isfinite(strong_base_rate) or strong_base_rate >= 0.9:
        return "inconclusive"
    others = summary[summary.variant != "baseline"]
    works = others[(others.lift >= LIFT) & (others.lift_low > 0)]
    if works.empty:
        return "reproduced"
    return "not reproduced" if works.in_context_rate.max() >= weak_base_rate else "partly"


def verdict_one_head(evaluation: pd.DataFrame, facts: int) -> str:
    """One-head scaling reaches a high in-context rate on held-out data: the chosen head's held-out rate >=
    HIGH_RATE, its paired lift over the baseline with interval above 0, and a lift above every placebo head's:
    reproduced. A lift with interval above 0 otherwise: partly. No such lift: not reproduced. Fewer than
    MIN_FACTS held-out facts, or a baseline already >= HIGH_RATE: inconclusive."""
    base = evaluation[evaluation.kind == "baseline"].iloc[0]
    chosen = evaluation[evaluation.kind == "chosen"].iloc[0]
    placebo = evaluation[evaluation.kind == "placebo"]
    if facts < MIN_FACTS or base.in_context_rate >= HIGH_RATE or not np.isfinite(chosen.lift_low):
        return "inconclusive"
    if chosen.lift_low <= 0:
        return "not reproduced"
    beats = placebo.empty or chosen.lift > placebo.lift.max()
    return "reproduced" if chosen.in_context_rate >= HIGH_RATE and beats else "partly"


def verdict_absent(table: pd.DataFrame) -> str:
    """Elicitation cannot recover absent facts while provision and fine-tuning can. Inconclusive when the best
    elicitation prompt does not recall frequent facts (accuracy < 0.8: the search itself failed). Elicitation
    recovers absent facts (Wilson low above chance): not reproduced. Otherwise reproduced when both the fact
    in context and fine-tuning reach >= 0.5 on absent facts with Wilson low above chance; partly when one does."""
    get = lambda g, c: table[(table.group == g) & (table.condition == c)]
    freq = get("frequent", "elicitation (best prompt)")
    absent = get("absent", "elicitation (best prompt)")
    if freq.empty or absent.empty or not freq.accuracy.iloc[0] >= 0.8:
        return "inconclusive"
    if absent.ci_low.iloc[0] > absent.chance.iloc[0]:
        return "not reproduced"
    ok = [not (g := get("absent", c)).empty and g.accuracy.iloc[0] >= 0.5 and g.ci_low.iloc[0] > g.chance.iloc[0]
          for c in ("fact in context", "fine-tuning")]
    return "reproduced" if all(ok) else "partly" if any(ok) else "not reproduced"


def frequency_row(fit: dict, note: str = "") -> dict:
    return dict(claim_id="frequency_predicts_override_resistance",
                claim="the more frequent the fact, the less often counterfactual context overrides it "
                      f"(Spearman rho, per-fact in-context rate vs log frequency{note})",
                paper_value="negative (strong priors resist)", our_value=fit["rho_fact"], ci_low=fit["rho_fact_low"],
                ci_high=fit["rho_fact_high"],
                verdict=verdict_frequency(fit["rho_fact"], fit["rho_fact_high"], fit["facts"]))


def prompting_row(summary: pd.DataFrame, strong_base: float, weak_base: float, facts: int) -> dict:
    others = summary[summary.variant != "baseline"]
    best = others.sort_values("lift").iloc[-1]
    return dict(claim_id="prompting_fails_on_strong_priors",
                claim=f"prompt-only interventions do not lift the in-context rate on strong priors (best: "
                      f"{best.variant}, lift in rate)",
                paper_value="fail", our_value=best.lift, ci_low=best.lift_low, ci_high=best.lift_high,
                verdict=verdict_prompting(summary, strong_base, weak_base, facts))


def one_head_row(evaluation: pd.DataFrame, setting: dict, facts: int) -> dict:
    chosen = evaluation[evaluation.kind == "chosen"].iloc[0]
    return dict(claim_id="one_head_scaling", claim=f"scaling one head ({setting['role']} head {setting['head']} x "
                f"{setting['factor']:g}) reaches a high in-context rate on held-out facts",
                paper_value=PAPER_ONE_HEAD_RATE, our_value=chosen.in_context_rate, ci_low=chosen.ci_low,
                ci_high=chosen.ci_high, verdict=verdict_one_head(evaluation, facts))


def absent_row(table: pd.DataFrame) -> dict:
    a = table[(table.group == "absent") & (table.condition == "elicitation (best prompt)")].iloc[0]
    acc = lambda c: table[(table.group == "absent") & (table.condition == c)].accuracy.iloc[0]
    return dict(claim_id="prompting_cannot_inject_absent_knowledge",
                claim=f"elicitation cannot recover absent facts (best prompt, held-out split; chance {a.chance:.2f}) "
                      f"while the fact in context ({acc('fact in context'):.2f}) and fine-tuning "
                      f"({acc('fine-tuning'):.2f}) can",
                paper_value="elicitation ~ chance; provision, fine-tuning high", our_value=a.accuracy,
                ci_low=a.ci_low, ci_high=a.ci_high, verdict=verdict_absent(table))


def scorecard(rows_by_track: dict[str, list[dict]], profile: str) -> pd.DataFrame:
    return scorecards.frame(CHAPTER, [dict(r, track=t) for t, rs in rows_by_track.items() for r in rs], profile)


# ---------------------------------------------------------------------------------------------------------
# 9. figures


def frequency_chart(rates: pd.DataFrame, fit: dict, track: str, x: str = "mentions", x_title: str = "",
                    log_x: bool = True):
    """In-context rate (Wilson) per frequency bin, and the memorized rate."""
    import altair as alt

    title = (f"{track}: frequent facts resist counterfactual context (rho = {fit['rho_fact']:.2f})"
             if fit["rho_fact"] < 0 else f"{track}: no resistance that grows with frequency (rho = {fit['rho_fact']:.2f})")
    long = pd.concat([rates.assign(answer="in-context (context value)", value=rates.in_context_rate),
                      rates.assign(answer="memorized (fact's value)", value=rates.memorized_rate,
                                   ci_low=np.nan, ci_high=np.nan)])
    base = alt.Chart(long).encode(x=alt.X(f"{x}:Q", scale=alt.Scale(type="log" if log_x else "linear", zero=False),
                                          title=x_title or x),
                                  color=alt.Color("answer:N", title=None))
    line = base.mark_line(point=True).encode(y=alt.Y("value:Q", scale=alt.Scale(domain=[0, 1]),
                                                      title="share of conflict prompts (Wilson 95%)"))
    bars = base.mark_rule().encode(y="ci_low:Q", y2="ci_high:Q")
    subtitle = "denominator: every conflict prompt of the bin; the rest answered neither value"
    return alt.layer(bars, line, title=alt.TitleParams(title, subtitle=subtitle)).properties(
        width=plots.WIDTH, height=plots.HEIGHT)


def intervention_chart(summary: pd.DataFrame, title: str):
    import altair as alt

    base = alt.Chart(summary).encode(x=alt.X("variant:N", sort=list(summary.variant), title=None,
                                             axis=alt.Axis(labelAngle=0, labelLimit=140)))
    pts = base.mark_bar(opacity=0.7).encode(y=alt.Y("in_context_rate:Q", scale=alt.Scale(domain=[0, 1]),
                                                    title="in-context rate on strong priors (Wilson 95%)"))
    err = base.mark_rule(color="black").encode(y="ci_low:Q", y2="ci_high:Q")
    return alt.layer(pts, err, title=title).properties(width=plots.WIDTH, height=plots.HEIGHT)


def attribution_chart(table: pd.DataFrame, heads: dict[str, str], title: str):
    import altair as alt

    t = table.assign(role=table["head"].map({v: k for k, v in heads.items()}).fillna("other"))
    return alt.Chart(t, title=title).mark_rect().encode(
        x=alt.X("index:O", title="head"), y=alt.Y("layer:O", title="layer"),
        color=alt.Color("mean_ld:Q", scale=alt.Scale(scheme="redblue", domainMid=0, reverse=True),
                        title="mean LD (memory - context logit)"),
        tooltip=["head", alt.Tooltip("mean_ld:Q", format=".2f"), "role"],
    ).properties(width=plots.WIDTH // 2, height=plots.HEIGHT // 1.5)


def sweep_chart(sweep: pd.DataFrame, baseline: float, title: str):
    import altair as alt

    base = alt.Chart(sweep).encode(x=alt.X("factor:Q", title="factor on the head's output (1 = unchanged)"),
                                   color=alt.Color("role:N"))
    line = base.mark_line(point=True).encode(y=alt.Y("in_context_rate:Q", scale=alt.Scale(domain=[0, 1]),
                                                     title="in-context rate (Wilson 95%)"))
    err = base.mark_rule().encode(y="ci_low:Q", y2="ci_high:Q")
    paper = alt.Chart(pd.DataFrame({"y": [PAPER_ONE_HEAD_RATE]})).mark_rule(strokeDash=[6, 4], color="black").encode(
        y="y:Q")
    subtitle = f"dashed: the paper's 88%; baseline {baseline:.0%}; selection split"
    return alt.layer(err, line, paper, title=alt.TitleParams(title, subtitle=subtitle)).properties(
        width=plots.WIDTH, height=plots.HEIGHT)


def evaluation_chart(evaluation: pd.DataFrame, title: str):
    import altair as alt

    long = pd.concat([
        evaluation.assign(measure="in-context rate (counterfactual)", value=evaluation.in_context_rate,
                          lo=evaluation.ci_low, hi=evaluation.ci_high),
        evaluation.assign(measure="accuracy (true passage)", value=evaluation.correct_context_accuracy,
                          lo=evaluation.correct_low, hi=evaluation.correct_high),
    ])
    base = alt.Chart(long).encode(y=alt.Y("condition:N", sort=list(evaluation.condition), title=None),
                                  color=alt.Color("measure:N", title=None), yOffset="measure:N")
    bars = base.mark_bar(opacity=0.7).encode(x=alt.X("value:Q", scale=alt.Scale(domain=[0, 1]),
                                                     title="share of held-out prompts (Wilson 95%)"))
    err = base.mark_rule(color="black").encode(x="lo:Q", x2="hi:Q")
    paper = alt.Chart(pd.DataFrame({"x": [PAPER_ONE_HEAD_RATE]})).mark_rule(strokeDash=[6, 4]).encode(x="x:Q")
    return alt.layer(bars, err, paper, title=alt.TitleParams(title, subtitle="dashed: the paper's 88%")).properties(
        width=plots.WIDTH, height=plots.HEIGHT)


def absent_chart(table: pd.DataFrame, title: str):
    import altair as alt

    order = ["absent", "rare", "medium", "frequent"]
    base = alt.Chart(table).encode(x=alt.X("group:N", sort=order, title="presence of the fact in pre-training",
                                           axis=alt.Axis(labelAngle=0)),
                                   xOffset=alt.XOffset("condition:N"), color=alt.Color("condition:N", title=None))
    bars = base.mark_bar().encode(y=alt.Y("accuracy:Q", scale=alt.Scale(domain=[0, 1]),
                                          title="closed-book accuracy (Wilson 95%)"))
    err = base.mark_rule(color="black").encode(y="ci_low:Q", y2="ci_high:Q")
    chance = alt.Chart(table).mark_tick(color="gray", thickness=2, size=40).encode(
        x=alt.X("group:N", sort=order), y="chance:Q")
    return alt.layer(bars, err, chance, title=alt.TitleParams(title, subtitle="grey ticks: chance")).properties(
        width=plots.WIDTH, height=plots.HEIGHT)
