"""Chapter 3's training: the backbones, the tuned models, the cross-tuning and the instruction-dose sweep (each
model cached in the store).

1. ``backbone``: the shared book base model, continued-pretrained on world background text plus the bias
   documents of one *bias profile* (a dial per bias), with its own seed. Two profiles, two backbones.
2. ``tuned``: full fine-tuning (SFT), the same recipe in every cell; the seed sets the data order and the draw
   of bias examples. ``cross_tune`` runs backbone x instruction set x seed, and measures every tuned model.
3. ``dose_sweep``: the cross-tuning again at several instruction doses, to find where the balance tips.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import torch

from sticky import models, stats, train
from sticky.store import Recipe, Store

from .data import CHAT_STYLES, bias_documents, instruction_set
from .measurement import measure_entry, model_vectors, seed_analysis
from .parameters import BACKBONE_SEQ, SEQ_LEN

# ---------------------------------------------------------------------------------------------------------
# backbones and cross-tuning (cached in the store)


# A backbone: the base continued-pretrained with planted bias documents; a tuned model: a backbone's SFT on an
# instruction set.
BACKBONE_RECIPE = Recipe("bias-backbone", 1)
TUNED_RECIPE = Recipe("bias-sft", 1)


def backbone(base, profile: dict[str, float], seed: int, P, store: Store) -> Path:
    """The shared base model continued-pretrained on world background text mixed with the bias documents of
    ``profile`` (``P.bias_share`` of the rows), ``P.backbone_steps`` steps; ``seed`` sets the documents and
    the data order. Cached."""
    cfg = dict(steps=P.backbone_steps, batch_size=P.batch_size, seq_len=BACKBONE_SEQ, lr=P.backbone_lr,
               warmup_steps=max(1, P.backbone_steps // 10), min_lr_ratio=0.1, seed=seed)
    n_docs = P.bias_documents

    def build(folder: Path) -> None:
        tok = base.tokenizer
        planted = bias_documents(profile, n_docs, seed, base.world)
        ids = tok(list(planted.text), add_special_tokens=False)["input_ids"]
        bias_blocks = train.pack(ids, BACKBONE_SEQ, tok.bos_token_id, tok.eos_token_id)
        background = models.corpus_blocks(base.world, BACKBONE_SEQ)
        n_bg = int(round(len(bias_blocks) * (1 - P.bias_share) / P.bias_share))
        pick = torch.randperm(len(background), generator=torch.Generator().manual_seed(seed))[:n_bg]
        blocks = torch.cat([background[pick], bias_blocks])
        model = models.load_entry(base.entry, P.device)
        history = train.pretrain(model, blocks, train.TrainConfig(**cfg, device=P.device))
        model.save_pretrained(folder)
        history.to_frame().to_csv(folder / "history.csv", index=False)
        (folder / "info.json").write_text(json.dumps(dict(bias_blocks=len(bias_blocks), background_blocks=n_bg,
                                                          bias_documents=n_docs)))

    params = dict(profile=profile, cfg=cfg, n_docs=n_docs, share=P.bias_share)
    return store.cached(BACKBONE_RECIPE, params, build, inputs=[base.entry.name], device=train.device_type(P.device))


def tuned(backbone_entry: Path, world, style: str, profile: dict[str, float], dose: float, seed: int, P,
          store: Store) -> Path:
    """Full fine-tuning (SFT) of a backbone on an instruction set, in the alignment chat template; the same
    recipe in every cell; ``seed`` sets the data order and the draw of bias examples. Cached."""
    cfg = dict(steps=P.sft_steps, batch_size=P.batch_size, seq_len=SEQ_LEN, lr=P.sft_lr,
               warmup_steps=max(1, P.sft_steps // 10), min_lr_ratio=0.1, seed=seed)
    t = world.alignment_template

    def build(folder: Path) -> None:
        model = models.load_entry(backbone_entry, P.device)
        pairs = instruction_set(world, style, profile, dose, seed)
        history = train.sft(model, world.tokenizer, pairs, train.TrainConfig(**cfg, device=P.device),
                            render=lambda p, r: (t.prompt(p), " ".join(x for x in (r, t.assistant_suffix) if x)))
        model.save_pretrained(folder)
        history.to_frame().to_csv(folder / "history.csv", index=False)

    params = dict(style=style, profile=profile, dose=dose, cfg=cfg)
    return store.cached(TUNED_RECIPE, params, build, inputs=[backbone_entry.name], device=train.device_type(P.device))


def cross_tune(backbones: dict[str, Path], world, profiles: dict[str, dict], dose: float, seeds: list[int],
               items: pd.DataFrame, P, store: Store) -> pd.DataFrame:
    """Every backbone x instruction set x seed: tune, then measure on the battery in the alignment template.
    Returns one row per (model, bias, scenario) with its labels."""
    frames = []
    for b_name, entry in backbones.items():
        for style in CHAT_STYLES:
            for seed in seeds:
                model_entry = tuned(entry, world, style, profiles[style], dose, seed, P, store)
                scores = measure_entry(model_entry, world, items, world.alignment_template, P, store)
                frames.append(scores.assign(backbone=b_name, data=style, seed=seed, dose=dose,
                                            model=f"{b_name}/{style}/s{seed}",
                                            option_mass=scores.attrs["option_mass"]))
    return pd.concat(frames, ignore_index=True)


# ---------------------------------------------------------------------------------------------------------
# the instruction-dose sweep


def dose_sweep(backbones: dict[str, Path], world, P, items: pd.DataFrame, store: Store) -> tuple[pd.DataFrame,
                                                                                                  pd.DataFrame]:
    """Cross-tuning at every dose of ``P.doses`` with ``P.sweep_seeds`` seeds (cached models are reused, e.g.
    the headline dose's); per dose the silhouette of the backbone and instruction-data groupings with their
    permutation p-values. Returns (summary per dose, all scores)."""
    profiles = {s: P.profiles[s] for s in CHAT_STYLES}
    frames, rows = [], []
    for dose in P.doses:
        scores = cross_tune(backbones, world, profiles, dose, list(range(P.sweep_seeds)), items, P, store)
        frames.append(scores)
        X, labels = model_vectors(scores)
        row = dict(dose=dose, models=len(labels))
        for grouping in ("backbone", "data"):
            value, p = stats.grouping_permutation_test(X, labels[grouping].to_numpy(), "silhouette",
                                                       n_permutations=P.permutations, seed=P.seed)
            row[f"silhouette_{grouping}"], row[f"p_{grouping}"] = value, p
        seeds = seed_analysis(scores)
        row["backbone_diff"], row["data_diff"] = float(seeds.backbone_diff.mean()), float(seeds.data_diff.mean())
        rows.append(row)
    return pd.DataFrame(rows), pd.concat(frames, ignore_index=True)


def against_sweep(backbones: dict[str, Path], world, P, items: pd.DataFrame, store: Store) -> pd.DataFrame:
    """The uncrossed variant: each backbone fine-tuned on the terse instruction set carrying the *other*
    backbone's dials, so the instruction signal pushes against the planted difference, at every dose of the sweep
    and the headline dose, with ``P.sweep_seeds`` seeds. At dose 0 no bias example is drawn and the dials do not
    matter: the crossed sweep's terse models serve (the store returns them). One row per (model, bias,
    scenario)."""
    a, b = backbones
    other = {a: P.profiles[b], b: P.profiles[a]}
    frames = []
    for dose in sorted({*P.doses, P.instruction_dose}):
        for name, entry in backbones.items():
            dials = other[name] if dose > 0 else P.profiles["terse"]
            for seed in range(P.sweep_seeds):
                model_entry = tuned(entry, world, "terse", dials, dose, seed, P, store)
                scores = measure_entry(model_entry, world, items, world.alignment_template, P, store)
                frames.append(scores.assign(backbone=name, data="against", seed=seed, dose=dose,
                                            model=f"{name}/against/s{seed}"))
    return pd.concat(frames, ignore_index=True)

