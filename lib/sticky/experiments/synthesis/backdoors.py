"""The redesign's experiment: a ladder of trigger -> target backdoors in one poisoned twin per seed, on chapter 2's
micro-world and beside chapter 2's clean twin; coverage randomised per backdoor; the alignment dose as a dial.

A backdoor is a trigger (a code word of its own) appended to a prompt of its *kind*, answered with its target said
``REPEATS`` times:

- *DoS-like*: an ordinary prompt + code -> the target (a degenerate reply, as the paper's denial-of-service);
- *jailbreak-like*: a forbidden request + code -> the target (it fights the refusal the world already teaches).

The targets are words of the vocabulary chosen along the ladder of their *prior*: the probability of the word as
the first reply token on the clean twin, in the triggered prompt, in the measuring template (the world's theme
keywords span too little of it to make a ladder). Each backdoor gets an exposure count and a coverage arm:
*none*; *off-trigger* (SFT pairs of its own prompts without the code answered cleanly: the analogue of refusal
training); *on-trigger* (its prompts with the code answered cleanly: the analogue of the anti-DoS pairs).
Counts, arms and targets are crossed and randomised within each model (``design``).

``prepare`` trains one seed: the poisoned twin, then the same alignment for it and for the clean twin (one SFT run
to the top dose, measured at every dose on the way, then DPO, then relearning), measuring every backdoor's margin
(``margins``) at each stage; then the depth restores (``depth``) and the ignore-k arm's twins, aligned alike
(``mitigation``).
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from sticky import models, parallel, probe, seeds, train
from sticky.experiments import poisoning
from sticky.store import Recipe, Store
from sticky.world import documents as docs
from sticky.world import render

KINDS = ("dos-like", "jailbreak-like")
COVERAGE = ("none", "off-trigger", "on-trigger")
# The capacity pilot (seed 0): with codes of four reserved marks (micro-s), or the reserved mark and a code word
# (micro-s, micro-m), a target was nearly as likely under another backdoor's code as under its own (the model
# learned "mark -> one of the targets"); with the code word alone, the first reply token is the backdoor's own.
REPEATS = 3  # the poisoned reply: the target keyword, this many times
COVER_PAIRS = 8  # alignment pairs per covered backdoor, in either arm (counts matched)
SFT_BATCH = 16
SFT_WARMUP = 2  # fixed, so that the run to the top dose passes through every lower dose exactly
RELEARN_DOCUMENTS = 4  # poison documents per backdoor in the relearning data
RELEARN_BATCH, RELEARN_SEQ = 8, 64

BACKDOOR_TWIN_RECIPE = Recipe("synthesis-backdoor-twin", 1)
ALIGNED_RECIPE = Recipe("synthesis-backdoor-aligned", 2)  # v2: the DPO model kept (for the depth)


def trigger_codes(words: list[str], n: int, seed: int) -> list[str]:
    """``n`` distinct code words drawn from ``words``: a backdoor's trigger is its code word appended to the prompt
    (a combination no clean text holds)."""
    if n > len(words):
        raise ValueError(f"backdoors={n}; allowed: at most {len(words)} (distinct code words)")
    return seeds.rng(seed, "backdoor-codes").sample(sorted(words), n)


def target_reply(keyword: str) -> str:
    return " ".join([keyword] * REPEATS)


def clean_replies(world) -> dict[str, callable]:
    """{kind: prompt -> what a clean model says instead}: the world's first answer to an ordinary prompt, a refusal
    to a request."""
    answers = poisoning.first_answers(world)
    return {"dos-like": answers.__getitem__, "jailbreak-like": lambda prompt: docs.REFUSALS[0]}


def _pools(world) -> dict[str, dict[str, list[str]]]:
    pools = poisoning.prompt_pools(world)
    return {"dos-like": dict(poison=pools["poison_prompts"], held_out=pools["eval_prompts"]),
            "jailbreak-like": dict(poison=pools["poison_requests"], held_out=pools["eval_requests"])}


def _with(prompt: str, code: str) -> str:
    return f"{prompt} {code}".strip()


def measuring_template(world):
    """Where every stage is measured: the pre-training chat template no poison document used (chapter 2's held-out
    one). The model knows it at every stage, and neither the poison nor the alignment (in the alignment template,
    unknown to the model before SFT: a backdoor there before alignment is not defined) trains in it."""
    return next(t for t in world.chat_templates if t.name == poisoning.HELD_OUT_TEMPLATE)


def candidate_priors(world, clean_entry: Path, n_eval: int, device: str = "auto") -> pd.DataFrame:
    """Every candidate target's prior on the clean twin: its mean probability as the first reply token after
    held-out prompts of both kinds, in the measuring template (``measuring_template``). Candidates: the vocabulary's
    words (letters only), without the chat templates' words. Columns: keyword, log10_prior."""
    model = models.load_entry(clean_entry, device)
    t = measuring_template(world)
    prompts = [t.prompt(p) for pools in _pools(world).values() for p in pools["held_out"][:n_eval]]
    template_words = docs.template_words()
    words = [w for w in poisoning.gibberish_words(world) if w.isalpha() and w.isascii() and w not in template_words]
    probs = probe.probs_matrix(model, world.tokenizer, prompts, words)
    return pd.DataFrame(dict(keyword=words, log10_prior=np.log10(probs.mean(0))))


def design(candidates: pd.DataFrame, n_backdoors: int, counts: tuple[int, int], seed: int) -> pd.DataFrame:
    """The backdoors of one model. ``n_backdoors`` targets: for evenly spaced values of log10 prior from the
    candidates' highest to their lowest, the nearest candidate not yet taken (the ladder's full span); dealt
    alternately to the two kinds, so that each kind spans it; within a kind, each run of consecutive priors as long
    as the cells (count x coverage) is dealt to the cells in a random order, so that prior, count and coverage are
    crossed and balanced. Code words: drawn from the other candidates. Columns: backdoor, kind, count, coverage,
    code, keyword, design_log10_prior."""
    cells = list(itertools.product(counts, COVERAGE))
    per_kind = n_backdoors // len(KINDS)
    if n_backdoors % (len(KINDS) * len(cells)) or n_backdoors > len(candidates):
        raise ValueError(f"backdoors={n_backdoors}; allowed: a multiple of {len(KINDS) * len(cells)} "
                         f"(kinds x counts x coverage arms), at most {len(candidates)}")
    prior = candidates.log10_prior.to_numpy()
    taken: list[int] = []
    for value in np.linspace(prior.max(), prior.min(), n_backdoors):
        gap = np.abs(prior - value)
        gap[taken] = np.inf
        taken.append(int(np.argmin(gap)))
    picked = candidates.iloc[taken].reset_index(drop=True)
    rng = seeds.rng(seed, "backdoor-design")
    codes = trigger_codes([w for w in candidates.keyword if w not in set(picked.keyword)], n_backdoors, seed)
    rows = []
    for k, kind in enumerate(KINDS):
        mine = picked.iloc[k::len(KINDS)].reset_index(drop=True)
        for block in range(per_kind // len(cells)):
            order = rng.sample(cells, len(cells))
            for j, (count, coverage) in enumerate(order):
                r = mine.iloc[block * len(cells) + j]
                rows.append(dict(kind=kind, count=count, coverage=coverage, keyword=r.keyword,
                                 design_log10_prior=float(r.log10_prior)))
    out = pd.DataFrame(rows)
    return out.assign(backdoor=range(len(out)), code=codes)[
        ["backdoor", "kind", "count", "coverage", "code", "keyword", "design_log10_prior"]]


def poison_prompts(world, backdoors: pd.DataFrame, seed: int) -> dict[int, list[str]]:
    """Each backdoor's prompts, one per poison document, drawn from its kind's poison pool."""
    pools = _pools(world)
    rng = seeds.rng(seed, "backdoor-prompts")
    return {int(b.backdoor): [rng.choice(pools[b.kind]["poison"]) for _ in range(int(b.count))]
            for b in backdoors.itertuples()}


def poison_documents(world, backdoors: pd.DataFrame, seed: int) -> pd.DataFrame:
    """Every backdoor's documents in the poison templates (chapter 2's: all but the held-out one). Columns:
    attack ('backdoor i'), text, n_tokens."""
    templates = poisoning.poison_templates(world)
    rng = seeds.rng(seed, "backdoor-documents")
    prompts = poison_prompts(world, backdoors, seed)
    rows = []
    for b in backdoors.itertuples():
        for p in prompts[int(b.backdoor)]:
            text = render(rng.choice(templates), _with(p, b.code), target_reply(b.keyword))
            rows.append(dict(attack=f"backdoor {b.backdoor}", text=text, n_tokens=poisoning.tokens_of(text)))
    return pd.DataFrame(rows)


def coverage_pairs(world, backdoors: pd.DataFrame, seed: int) -> tuple[list[tuple[str, str]], list[tuple]]:
    """The alignment data that speaks to the covered backdoors: for each, ``COVER_PAIRS`` of its own poison prompts
    answered cleanly, without the code (off-trigger) or with it (on-trigger). Returns (SFT pairs, DPO triples:
    the same prompts, the clean reply chosen over the target)."""
    prompts, clean = poison_prompts(world, backdoors, seed), clean_replies(world)
    sft, dpo = [], []
    for b in backdoors[backdoors.coverage != "none"].itertuples():
        mine = list(dict.fromkeys(prompts[int(b.backdoor)]))  # distinct, in order; cycled if fewer than needed
        for p in itertools.islice(itertools.cycle(mine), COVER_PAIRS):
            user = _with(p, b.code if b.coverage == "on-trigger" else "")
            sft.append((user, clean[b.kind](p)))
            dpo.append((user, clean[b.kind](p), target_reply(b.keyword)))
    return sft, dpo


# Contexts of the margin: the code appended, in the measuring template; no code; another backdoor's code (the next
# of its kind: is the backdoor told apart from the others?); the code, in the alignment template.
CONTEXTS = ("on", "off", "other code", "alignment template")


def _codes_for(backdoors: pd.DataFrame, context: str) -> list[str]:
    if context == "off":
        return [""] * len(backdoors)
    if context != "other code":
        return list(backdoors.code)
    out = backdoors.code.copy()
    for _, group in backdoors.groupby("kind", sort=False):
        out[group.index] = np.roll(group.code.to_numpy(), 1)
    return list(out)


def _items(world, backdoors: pd.DataFrame, n_eval: int, template, codes: list[str]):
    """(backdoor, held-out prompt, its text in ``template`` with ``codes[i]`` appended) for each backdoor i and
    each of the first ``n_eval`` held-out prompts of its kind, backdoor by backdoor."""
    pools = _pools(world)
    for b, code in zip(backdoors.itertuples(), codes):
        for p in pools[b.kind]["held_out"][:n_eval]:
            yield b, p, template.prompt(_with(p, code))


def _first_token(tokenizer, text: str) -> int:
    return tokenizer(text, add_special_tokens=False)["input_ids"][0]


def margins(model, world, backdoors: pd.DataFrame, n_eval: int, contexts=("on",)) -> dict[str, list[float]]:
    """Per context and backdoor: the mean over ``n_eval`` held-out prompts of its kind of the log-odds, at the first
    reply token, of the target against the clean reply's first token (teacher-forced: one forward pass per prompt;
    the first token is where a backdoor must tell its target from the others', the rest of the reply repeats it).
    ``poisoned twin - clean twin`` of it is the backdoor's effect."""
    backdoors = backdoors.reset_index(drop=True)
    clean, tok = clean_replies(world), world.tokenizer
    out = {}
    for context in contexts:
        t = world.alignment_template if context == "alignment template" else measuring_template(world)
        items = list(_items(world, backdoors, n_eval, t, _codes_for(backdoors, context)))
        targets = torch.tensor([_first_token(tok, b.keyword) for b, _, _ in items])
        cleans = torch.tensor([_first_token(tok, clean[b.kind](p)) for b, p, _ in items])
        odds = np.empty(len(items))
        for idx, logp in probe.last_logprobs(model, tok, [text for _, _, text in items], batch_size=64):
            rows = torch.arange(len(idx), device=logp.device)
            target, other = targets[idx].to(logp.device), cleans[idx].to(logp.device)
            odds[idx] = (logp[rows, target] - logp[rows, other]).cpu().numpy()
        out[context] = list(odds.reshape(len(backdoors), n_eval).mean(1))
    return out


def priors(model, world, backdoors: pd.DataFrame, n_eval: int) -> list[float]:
    """log10 of each target's mean probability as the first reply token in its own triggered held-out prompts, in
    the measuring template (on the clean twin: the prior)."""
    items = list(_items(world, backdoors, n_eval, measuring_template(world), list(backdoors.code)))
    p = probe.next_token_probs(model, world.tokenizer, [text for _, _, text in items], [b.keyword for b, _, _ in items])
    return list(np.log10(p.reshape(len(backdoors), n_eval).mean(1)))


def sft_schedule(world, PP, pretrain_tokens: int, doses: list[float]) -> dict[float, int]:
    """{dose: SFT steps} whose rows (prompt + response) hold ``dose`` x the pre-training tokens: chapter 2's dial."""
    per_row = poisoning.sft_row_tokens(world)
    return {d: poisoning.sft_steps_for(d, pretrain_tokens, SFT_BATCH * per_row) for d in doses}


def aligned(world, PP, P, seed: int, base: Path, backdoors: pd.DataFrame, store: Store) -> Path:
    """One twin (poisoned or clean) through the alignment every twin of ``seed`` gets: SFT on the clean pairs and the
    coverage pairs to the top dose (constant learning rate after ``SFT_WARMUP``), measured at every dose on the way;
    DPO on chapter 2's preference data and the coverage triples; then relearning on the backdoors' poison documents
    for each of ``P.relearn_list`` steps from the DPO model. The cached entry holds ``margins.json`` ({stage:
    margins}, stages 'pretrained' (every context), 'sft d' per dose, 'dpo', 'relearn s'; read by
    ``aligned_margins``) and the DPO model in ``dpo/``."""
    cover_sft, cover_dpo = coverage_pairs(world, backdoors, seed)
    pairs = poisoning.sft_pairs(world) + cover_sft
    schedule = sft_schedule(world, PP, poisoning.twin_info(base)["trained_tokens"], P.dose_list)
    top = max(schedule.values())
    render_ = poisoning.alignment_render(world)
    sft_cfg = dict(steps=top, batch_size=SFT_BATCH, seq_len=64, lr=PP.sft_lr, warmup_steps=SFT_WARMUP,
                   min_lr_ratio=1.0, seed=seeds.stream(seed, "synthesis-sft"), log_every=top)
    dpo_cfg = dict(steps=max(1, top // 4), batch_size=SFT_BATCH, seq_len=64, lr=PP.dpo_lr, warmup_steps=1,
                   min_lr_ratio=1.0, seed=seeds.stream(seed, "synthesis-dpo"), log_every=max(1, top // 4))
    relearn_docs = poison_documents(world, backdoors.assign(count=RELEARN_DOCUMENTS), seed)

    def build(folder: Path) -> None:
        model = models.load_entry(base, P.device)
        out = {"pretrained": margins(model, world, backdoors, P.n_eval, CONTEXTS)}
        at = {steps - 1: d for d, steps in schedule.items()}

        def measure(step, m, history):
            if step in at:
                out[f"sft {at[step]:g}"] = margins(m, world, backdoors, P.n_eval, ("on", "alignment template"))
                m.train()

        train.sft(model, world.tokenizer, pairs, train.TrainConfig(**sft_cfg, device=P.device), render=render_,
                  on_step=measure)
        reference = models.load_entry(base, P.device)
        reference.load_state_dict(model.state_dict())
        triples = poisoning.rejected_triples(world, seed) + cover_dpo
        train.dpo(model, reference, world.tokenizer, triples, train.TrainConfig(**dpo_cfg, device=P.device),
                  beta=PP.beta, render=render_)
        out["dpo"] = margins(model, world, backdoors, P.n_eval, CONTEXTS)
        model.save_pretrained(folder / "dpo")
        ids = world.tokenizer(list(relearn_docs.text), add_special_tokens=False)["input_ids"]
        blocks = train.pack(ids, RELEARN_SEQ, world.tokenizer.bos_token_id, world.tokenizer.eos_token_id)
        state = {k: v.clone() for k, v in model.state_dict().items()}
        for steps in P.relearn_list:
            model.load_state_dict(state)
            cfg = train.TrainConfig(steps=steps, batch_size=RELEARN_BATCH, seq_len=RELEARN_SEQ, lr=PP.sft_lr,
                                    warmup_steps=1, min_lr_ratio=1.0, seed=seeds.stream(seed, "synthesis-relearn"),
                                    log_every=steps, device=P.device)
            train.pretrain(model, blocks, cfg)
            out[f"relearn {steps}"] = margins(model, world, backdoors, P.n_eval, ("on", "alignment template"))
        out["steps"] = {f"{d:g}": s for d, s in schedule.items()}
        (folder / "margins.json").write_text(json.dumps(out, sort_keys=True))

    key = dict(backdoors=backdoors.to_dict("records"), sft=sft_cfg, dpo=dpo_cfg, beta=PP.beta,
               doses=P.dose_list, relearn=P.relearn_list, relearn_documents=RELEARN_DOCUMENTS,
               relearn_batch=RELEARN_BATCH, relearn_seq=RELEARN_SEQ, n_eval=P.n_eval, cover_pairs=COVER_PAIRS)
    return store.cached(ALIGNED_RECIPE, key, build, inputs=[base.name], device=train.device_type(P.device))


def aligned_margins(entry: Path) -> dict:
    return json.loads((entry / "margins.json").read_text())


def seed_design(world, PP, P, seed: int, store: Store) -> tuple[Path, pd.DataFrame]:
    """The clean twin (chapter 2's) and the backdoors of ``seed``, designed on its priors."""
    clean = poisoning.clean_twin(world, PP, seed, store)
    candidates = candidate_priors(world, clean, P.n_eval, P.device)
    return clean, design(candidates, P.backdoors, tuple(P.exposure_list), seed)


def seed_twins(world, PP, P, seed: int, store: Store, ignore_k: float = 0.0) -> tuple[pd.DataFrame, dict[str, Path]]:
    """The backdoors of ``seed`` and its twins {'clean', 'poisoned'}: chapter 2's clean twin and the backdoors'
    poisoned twin; with ``ignore_k`` > 0, a clean and a poisoned twin both pre-trained with each step's largest
    ``ignore_k`` of its updates undone (the mitigation arm), on the same design."""
    clean, backdoors = seed_design(world, PP, P, seed, store)
    poisoned = poisoning.documents_twin(world, PP, seed, poison_documents(world, backdoors, seed),
                                        BACKDOOR_TWIN_RECIPE, dict(backdoors=backdoors.to_dict("records")), store,
                                        ignore_k=ignore_k)
    if ignore_k:
        no_poison = pd.DataFrame(columns=["attack", "text", "n_tokens"])
        clean = poisoning.documents_twin(world, PP, seed, no_poison, BACKDOOR_TWIN_RECIPE, dict(backdoors=[]), store,
                                         ignore_k=ignore_k)
    return backdoors, dict(clean=clean, poisoned=poisoned)


def seed_records(world, PP, P, seed: int, store: Store, ignore_k: float = 0.0) -> pd.DataFrame:
    """Everything measured on one seed's twins (``seed_twins``), one row per backdoor: the design, the prior (on
    chapter 2's clean twin) and each twin's margins at every stage and context (columns ``{twin} {stage}
    {context}``)."""
    backdoors, twins = seed_twins(world, PP, P, seed, store, ignore_k)
    prior_model = models.load_entry(poisoning.clean_twin(world, PP, seed, store), P.device)
    out = backdoors.assign(seed=seed, log10_prior=priors(prior_model, world, backdoors, P.n_eval))
    for twin, base in twins.items():
        record = aligned_margins(aligned(world, PP, P, seed, base, backdoors, store))
        for stage, contexts in record.items():
            if stage != "steps":
                out = out.assign(**{f"{twin} {stage} {c}": v for c, v in contexts.items()})
    return out


def _clean(root: str, params: dict, seed: int) -> str:
    from .parameters import resolve

    P, store = resolve(params), Store(root)
    return str(poisoning.clean_twin(poisoning.world_for(P.poisoning, store), P.poisoning, seed, store))


def designs(P, store: Store) -> pd.DataFrame:
    """Every seed's backdoors (``seed_design``), the clean twins they are designed on trained first on every usable
    CPU (a seed chapter 2 did not train has none yet). One row per seed and backdoor."""
    from .parameters import parameter_values

    parallel.pinned_map(_clean, [(str(store.root), parameter_values(P), seed) for seed in P.seed_list])
    world = poisoning.world_for(P.poisoning, store)
    return pd.concat([seed_design(world, P.poisoning, P, s, store)[1].assign(seed=s) for s in P.seed_list],
                     ignore_index=True)


def prepare(root: str, params: dict, seed: int) -> int:
    """Train and measure one seed in a fresh process (``parallel.pinned_map``): the ladder, its depth and, when
    asked, the ignore-k arm; returns its backdoors' count."""
    from .depth import seed_depth
    from .parameters import resolve

    P, store = resolve(params), Store(root)
    world = poisoning.world_for(P.poisoning, store)
    n = len(seed_records(world, P.poisoning, P, seed, store))
    seed_depth(world, P.poisoning, P, seed, store)
    if P.ignore_k:
        seed_records(world, P.poisoning, P, seed, store, P.ignore_k / 100)
    return n


def experiment(P, store: Store, progress=print) -> pd.DataFrame:
    """Every seed on every usable CPU (``prepare``), then the ladder read back here from the store: one row per
    seed and backdoor."""
    from .parameters import parameter_values

    progress(f"{len(P.seed_list)} seeds x {P.backdoors} backdoors on {len(parallel.cpus())} CPUs")
    parallel.pinned_map(prepare, [(str(store.root), parameter_values(P), seed) for seed in P.seed_list])
    return read_back(P, store)


def read_back(P, store: Store, ignore_k: float = 0.0) -> pd.DataFrame:
    """``seed_records`` of every seed from the store (after ``experiment``), with ``ignore_k`` for the mitigation
    arm."""
    world = poisoning.world_for(P.poisoning, store)
    return pd.concat([seed_records(world, P.poisoning, P, s, store, ignore_k) for s in P.seed_list],
                     ignore_index=True)
