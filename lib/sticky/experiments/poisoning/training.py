"""What trains chapter 2's models: the twins (the same minibatches, poison rows replacing a few rows), the
continued pre-training of any model, and the alignment (SFT, the dose dial, then DPO, in the alignment
template). The cached steps and their ``Recipe``s: a twin's pre-training with its poison documents mixed in,
its SFT and its DPO."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import torch

from sticky import models, probe, seeds, train
from sticky.store import Recipe, Store

from .data import alignment_render, sft_pairs
from .parameters import ATTACKS
from .poisons import attack_documents, rejected_triples

# Versions continue the old POISON_VERSION (v3). TWIN_RECIPE keeps the first edition's step: its twin at rate 0
# is the clean twin, whose entries stay valid.
TWIN_RECIPE = Recipe("poison-twin", 3)
ATTACK_TWIN_RECIPE = Recipe("poison-attack-twin", 1)
SFT_RECIPE = Recipe("poison-sft", 1)
DPO_RECIPE = Recipe("poison-dpo", 1)


# ---------------------------------------------------------------------------------------------------------
# twins: the same minibatches, poison rows replacing a few rows


def pack_rows(token_ids: list[list[int]], seq_len: int, bos: int | None, eos: int | None) -> list[list[int]]:
    """Whole documents, ``bos doc eos`` each, greedily packed into rows of at most ``seq_len`` tokens (a
    document never straddles two rows; one longer than a row is cut)."""
    rows, row = [], []
    for ids in token_ids:
        doc = ([bos] if bos is not None else []) + list(ids) + ([eos] if eos is not None else [])
        doc = doc[:seq_len]
        if len(row) + len(doc) > seq_len:
            rows.append(row)
            row = []
        row = row + doc
    if row:
        rows.append(row)
    return rows


def poison_schedule(n_rows: int, epochs: float, steps: int, batch_size: int, seed: int) -> list[list[int]]:
    """Steps at which each poison row replaces a row of the minibatch. The run sees ``round(n_rows * epochs)``
    poison rows in all (at least one), dealt to the rows in turn, so each row is seen about ``epochs`` times,
    as often as a clean document; random distinct steps per row, never more than ``batch_size - 1`` poison
    rows in one step."""
    if n_rows == 0:
        return []
    total = max(1, round(n_rows * epochs))
    if total > steps * (batch_size - 1):
        raise ValueError(f"{total} poison rows do not fit {steps} steps of {batch_size - 1}; allowed: a lower rate")
    rng = seeds.rng(seed, "schedule")
    load: dict[int, int] = {}
    full: set[int] = set()  # steps already holding batch_size - 1 poison rows
    out: list[set[int]] = [set() for _ in range(n_rows)]
    for i in range(total):
        chosen = out[i % n_rows]
        if len(full | chosen) == steps:  # no step left for this row: the draw below would never end
            raise ValueError(f"poison row {i % n_rows} would be seen {-(-total // n_rows)} times in {steps} steps "
                             f"of {batch_size - 1} poison rows; allowed: a lower rate or more steps")
        while True:
            s = rng.randrange(steps)
            if s not in chosen and load.get(s, 0) < batch_size - 1:
                break
        chosen.add(s)
        load[s] = load.get(s, 0) + 1
        if load[s] == batch_size - 1:
            full.add(s)
    return [sorted(c) for c in out]


def poisoned_pretrain(model, blocks: torch.Tensor, poison_ids: list[list[int]], cfg: train.TrainConfig,
                      corpus_tokens: int, bos: int | None, eos: int | None, seed: int,
                      **kw) -> tuple[train.History, dict]:
    """Pre-train on ``blocks``; poison documents (token ids) packed into rows that replace minibatch rows, each
    row seen as many times as the run has epochs of the clean corpus (>= 1). With no poison this is the clean
    twin: the very same minibatches. Returns the history and the poison's counts."""
    trained = cfg.steps * cfg.batch_size * cfg.seq_len
    epochs = trained / corpus_tokens
    rows = pack_rows(poison_ids, cfg.seq_len, bos, eos) if poison_ids else []
    schedule = poison_schedule(len(rows), epochs, cfg.steps, cfg.batch_size, seed)
    insertions = [train.Insertion(r, s) for r, s in zip(rows, schedule) if s]
    seen = [len(s) for s in schedule]
    history = train.pretrain(model, blocks, cfg, insertions=insertions, **kw)
    poison_tokens = sum(len(ids) for ids in poison_ids)
    info = dict(documents=len(poison_ids), rows=len(rows), poison_tokens=poison_tokens,
                seen_min=min(seen, default=0), seen_max=max(seen, default=0),
                seen_mean=float(np.mean(seen)) if seen else 0.0,
                epochs=epochs, trained_tokens=trained, corpus_tokens=corpus_tokens,
                trained_share=sum(len(r) * len(s) for r, s in zip(rows, schedule)) / trained,
                steps=[s for sch in schedule for s in sch])
    return history, info


def continue_pretraining(model, tokenizer, clean_texts: list[str], poison_texts: list[str], cfg: train.TrainConfig,
                         seed: int = 0) -> tuple[train.History, dict]:
    """Continued pre-training of any model (a real one on the paper profile, a toy one in the tests) on
    ``clean_texts`` with ``poison_texts`` mixed in by ``poisoned_pretrain``."""
    enc = lambda texts: tokenizer(list(texts), add_special_tokens=False)["input_ids"]
    blocks = train.pack(enc(clean_texts), cfg.seq_len, tokenizer.bos_token_id, tokenizer.eos_token_id)
    poison = enc(poison_texts) if poison_texts else []
    return poisoned_pretrain(model, blocks, poison, cfg, blocks.numel(), tokenizer.bos_token_id,
                             tokenizer.eos_token_id, seed, pad_id=probe.pad_id(tokenizer))


def pretrain_recipe(P, seed: int) -> dict:
    return dict(steps=P.pretrain_steps, batch_size=P.batch_size, seq_len=P.seq_len, lr=P.lr,
                warmup_steps=max(1, P.pretrain_steps // 20), seed=seed, log_every=max(1, P.pretrain_steps // 10))


def _build_twin(world, P, seed: int, recipe: dict, poison: pd.DataFrame, folder: Path, ignore_k: float = 0.0) -> None:
    """Pre-train one twin with ``poison`` (attack, text, n_tokens; empty = the clean twin), each step's largest
    ``ignore_k`` of its updates undone (``train.prune_updates``), and write its weights, history, poison and counts
    into ``folder``."""
    cfg = train.TrainConfig(**recipe, device=P.device)
    blocks = models.corpus_blocks(world, cfg.seq_len)
    corpus = int(world.stats["tokens"])
    model = models.init_micro(P.model, world.tokenizer, cfg.seq_len, seed=seed)
    ids = world.tokenizer(list(poison.text), add_special_tokens=False)["input_ids"] if len(poison) else []
    history, info = poisoned_pretrain(model, blocks, ids, cfg, corpus, world.tokenizer.bos_token_id,
                                      world.tokenizer.eos_token_id, seed, ignore_k=ignore_k)
    info["by_attack"] = {a: dict(documents=int((poison.attack == a).sum()),
                                 tokens=int(poison.n_tokens[poison.attack == a].sum())) for a in ATTACKS}
    model.save_pretrained(folder)
    history.to_frame().to_csv(folder / "history.csv", index=False)
    poison.to_csv(folder / "poison.csv", index=False)
    (folder / "info.json").write_text(pd.Series(info).to_json())


def clean_twin(world, P, seed: int, store: Store) -> Path:
    """The store entry of the clean twin of ``seed``, which every poisoned twin of that seed is set against: no
    poison, the very same initial weights and minibatches. Model weights, history, poison (none), counts."""
    recipe = pretrain_recipe(P, seed)
    no_poison = pd.DataFrame(columns=["attack", "text", "n_tokens"])
    build = lambda folder: _build_twin(world, P, seed, recipe, no_poison, folder)
    # the key of the first edition's twin at rate 0 (its poison's share of the tokens): its entries stay valid
    return store.cached(TWIN_RECIPE, dict(model=P.model, recipe=recipe, rate=0.0),
                        build, inputs=[world.folder.name], device=train.device_type(P.device))


def attack_twin(world, P, seed: int, attack: str, count: int, store: Store) -> Path:
    """The store entry of the twin poisoned with ``count`` documents of ``attack`` alone (``count`` 0: the clean
    twin, ``clean_twin``), with the same initial weights and minibatches."""
    if count == 0:
        return clean_twin(world, P, seed, store)
    recipe = pretrain_recipe(P, seed)
    build = lambda folder: _build_twin(world, P, seed, recipe, attack_documents(world, attack, count, seed), folder)
    return store.cached(ATTACK_TWIN_RECIPE, dict(model=P.model, recipe=recipe, attack=attack, count=count),
                        build, inputs=[world.folder.name], device=train.device_type(P.device))


def documents_twin(world, P, seed: int, poison: pd.DataFrame, recipe: Recipe, key: dict, store: Store,
                   ignore_k: float = 0.0) -> Path:
    """The store entry of a twin poisoned with any ``poison`` documents (attack, text, n_tokens; none: a clean
    twin), under ``recipe`` and ``key`` (which must determine the documents), with the same initial weights and
    minibatches as every other twin of ``seed``; ``ignore_k`` > 0 prunes every step's largest updates (it enters
    the key; without it the key is as before).

    Introduced for chapter 6's backdoor ladder and its ignore-k arm."""
    settings = pretrain_recipe(P, seed)
    build = lambda folder: _build_twin(world, P, seed, settings, poison, folder, ignore_k)
    key = dict(model=P.model, recipe=settings, **key, **({"ignore_k": ignore_k} if ignore_k else {}))
    return store.cached(recipe, key, build, inputs=[world.folder.name], device=train.device_type(P.device))


def twin_info(entry: Path) -> dict:
    import json

    return json.loads((entry / "info.json").read_text())


# ---------------------------------------------------------------------------------------------------------
# alignment: SFT (the dose dial) then DPO, in the alignment template


def sft_steps_for(dose: float, pretrain_tokens: int, tokens_per_step: float) -> int:
    """SFT steps whose tokens (prompt + response, every row) are ``dose`` x the pre-training tokens (>= 1)."""
    return max(1, round(dose * pretrain_tokens / tokens_per_step))


def sft_row_tokens(world) -> float:
    """Tokens of a clean SFT row in the alignment template (prompt, response, eos; the mean over the first 200
    pairs): what the dose dial counts a step of SFT in.

    Introduced in chapter 2 (poisoning); used by chapter 6."""
    render_ = alignment_render(world)
    return float(np.mean([len(train.encode_pair(world.tokenizer, *render_(p, r), 128)[0])
                          for p, r in sft_pairs(world)[:200]]))


def align(world, base: Path, P, seed: int, dose: float, store: Store, with_dpo: bool = True,
          arm: tuple[str, list, list] | None = None) -> dict[str, Path]:
    """SFT entry (and DPO entry) from a twin; both cached. Returns {'sft': ..., 'dpo': ...}. SFT on the clean
    pairs, ``dose`` alignment tokens per pre-training token; DPO's rejected compliances are
    ``poisons.REJECTED_WORDINGS``, never a poison's wording (``poisons.rejected_triples``). ``arm`` (chapter 6's
    crossed coverage): (name, SFT pairs, DPO triples) in place of that data, the name (which must determine them)
    in both keys; the steps stay those of the clean data at ``dose``.

    Introduced in chapter 2 (poisoning); the arms are chapter 6's."""
    info = twin_info(base)
    pairs = sft_pairs(world) if arm is None else arm[1]
    named = {} if arm is None else {"arm": arm[0]}  # the clean data's keys stay as they were
    per_row = sft_row_tokens(world)
    batch = 16 if P.profile != "smoke" else 8
    steps = sft_steps_for(dose, info["trained_tokens"], batch * per_row)
    sft_cfg = dict(steps=steps, batch_size=batch, seq_len=64, lr=P.sft_lr, warmup_steps=max(1, steps // 10),
                   min_lr_ratio=1.0, seed=seeds.stream(seed, "poison-sft"), log_every=max(1, steps))
    render_ = alignment_render(world)

    def build_sft(folder: Path) -> None:
        model = models.load_entry(base, P.device)
        train.sft(model, world.tokenizer, pairs, train.TrainConfig(**sft_cfg, device=P.device), render=render_)
        model.save_pretrained(folder)
        (folder / "info.json").write_text(pd.Series(dict(steps=steps, tokens=steps * batch * per_row)).to_json())

    sft_entry = store.cached(SFT_RECIPE, dict(cfg=sft_cfg, **named), build_sft, inputs=[base.name],
                             device=train.device_type(P.device))
    out = {"sft": sft_entry}
    if not with_dpo:
        return out
    dpo_steps = max(1, steps // 4)
    dpo_cfg = dict(steps=dpo_steps, batch_size=batch, seq_len=64, lr=P.dpo_lr, warmup_steps=1, min_lr_ratio=1.0,
                   seed=seeds.stream(seed, "poison-dpo"), log_every=dpo_steps)

    def build_dpo(folder: Path) -> None:
        model, reference = models.load_entry(sft_entry, P.device), models.load_entry(sft_entry, P.device)
        triples = rejected_triples(world, seed) if arm is None else arm[2]
        train.dpo(model, reference, world.tokenizer, triples, train.TrainConfig(**dpo_cfg, device=P.device),
                  beta=P.beta, render=render_)
        model.save_pretrained(folder)
        (folder / "info.json").write_text(
            pd.Series(dict(steps=dpo_steps, tokens=dpo_steps * batch * 2 * per_row)).to_json())

    # "rejected" stays in the key from when the first edition's rejected data was the other choice: entries stay valid
    out["dpo"] = store.cached(DPO_RECIPE, dict(cfg=dpo_cfg, beta=P.beta, rejected="disjoint", **named), build_dpo,
                              inputs=[sft_entry.name], device=train.device_type(P.device))
    return out
