"""Part 2: does alignment's gradient reach the poison? Gradient cosines on chapter 2's twins, the behaviours'
losses through alignment, and the causal test (alignment data that trains against denial-of-service)."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import torch

from sticky import models, probe, seeds, train
from sticky.experiments import poisoning
from sticky.store import Store

from .parameters import BEHAVIOUR_RECIPE, GRADIENT_RECIPE
from .survival import align_pairs


def behaviour_items(world, attack: str, n: int, seed: int = 0) -> list[tuple[str, str, str]]:
    """(prompt text, poisoned reply, clean reply) on held-out prompts, in the alignment template: what the
    poisoned model was taught to do (denial-of-service: a fixed draw of random words), and what a clean model
    says instead (the world's own answer to the prompt; the world's first refusal; the other side of a pair)."""
    t = world.alignment_template
    sets = poisoning.eval_sets(world, n, seed)
    rng = seeds.rng(seed, f"behaviour-{attack}")
    return poisoning.ATTACK_RECORDS[attack].items(world, t, sets, n, rng)


def unit_of(name: str) -> str:
    """The unit a parameter belongs to: 'embeddings' (tied with the output layer), 'layer i', or 'final norm'."""
    m = re.search(r"layers\.(\d+)\.", name)
    if m:
        return f"layer {m.group(1)}"
    return "embeddings" if "embed" in name or "lm_head" in name else "final norm"


def loss_gradient(model, tokenizer, pairs: list[tuple[str, str]], seq_len: int = 64) -> dict[str, torch.Tensor]:
    """Gradient of the mean completion-token NLL of ``pairs`` (prompt text, completion) per parameter name."""
    encoded = [train.encode_pair(tokenizer, p, c, seq_len) for p, c in pairs]
    x, y = train.collate(encoded, probe.pad_id(tokenizer))
    device = probe.model_device(model)
    model.zero_grad(set_to_none=True)
    train.next_token_loss(model, x.to(device), y.to(device)).backward()
    grads = {n: p.grad.detach().clone() for n, p in model.named_parameters() if p.grad is not None}
    model.zero_grad(set_to_none=True)
    return grads


def cosine_by_unit(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> dict[str, float]:
    """Cosine between two gradients, per unit (``unit_of``) and over all parameters ('all')."""
    dots, na, nb = {}, {}, {}
    for name in sorted(a.keys() & b.keys()):  # a set's order changes with the hash seed: sum in one order
        for unit in (unit_of(name), "all"):
            dots[unit] = dots.get(unit, 0.0) + float((a[name] * b[name]).sum())
            na[unit] = na.get(unit, 0.0) + float((a[name] ** 2).sum())
            nb[unit] = nb.get(unit, 0.0) + float((b[name] ** 2).sum())
    return {u: dots[u] / np.sqrt(na[u] * nb[u]) if na[u] > 0 and nb[u] > 0 else np.nan for u in dots}


def gradient_overlap(world, P, store: Store) -> pd.DataFrame:
    """Per seed, attack, measure and unit: the cosine between the alignment (SFT) loss gradient and a poison
    behaviour's gradient, on the poisoned twin at ``P.twin_rate``, at the start of alignment. Measures:
    'reply' (the poisoned reply's NLL, the rule's) and 'margin' (its NLL minus the clean reply's, the post hoc
    follow-up). Negative: an alignment step makes the poisoned reply less likely (alignment reaches it)."""
    PP = P.poisoning
    pairs, render = align_pairs(world)
    rows = []
    for seed in PP.seed_list:
        twin = poisoning.twin(world, PP, seed, P.twin_rate, store)

        def compute(seed=seed, twin=twin) -> list[dict]:
            model = models.load_entry(twin, P.device)
            sample = seeds.rng(seed, "align-grad").sample(pairs, min(len(pairs), 4 * P.n_items))
            g_align = loss_gradient(model, world.tokenizer, [render(p, r) for p, r in sample])
            out = []
            for attack in poisoning.ATTACKS:
                items = behaviour_items(world, attack, P.n_items, seed)
                g_reply = loss_gradient(model, world.tokenizer, [(p, x) for p, x, _ in items])
                g_clean = loss_gradient(model, world.tokenizer, [(p, c) for p, _, c in items])
                g_margin = {k: g_reply[k] - g_clean[k] for k in g_reply}
                for measure, g in (("reply", g_reply), ("margin", g_margin)):
                    out += [dict(attack=attack, measure=measure, unit=u, cosine=c)
                            for u, c in cosine_by_unit(g_align, g).items()]
            return out

        rows += [dict(r, seed=seed) for r in store.json(GRADIENT_RECIPE, dict(seed=seed, n=P.n_items), compute,
                                                        inputs=[twin.name], device=train.device_type(P.device))]
    return pd.DataFrame(rows)


def stage_entries(world, PP, seed: int, rate: float, store: Store, extra_pairs=()) -> dict[str, dict]:
    """{'clean'|'poisoned': {stage: entry}} for one seed, poison ``rate`` and chapter 2's headline dose (chapter
    2's entries; with ``extra_pairs``, SFT only)."""
    out = {}
    for role, rate in (("clean", 0.0), ("poisoned", rate)):
        base = poisoning.twin(world, PP, seed, rate, store)
        out[role] = {"pretrained": base, **poisoning.align(world, base, PP, seed, PP.dose, store,
                                                            with_dpo=not extra_pairs, extra_pairs=extra_pairs)}
    return out


def behaviour_loss(world, P, store: Store) -> pd.DataFrame:
    """Mean per-token NLL of each poisoned reply and of the clean reply (held-out items) on both twins after each
    stage, and the margin between them (poisoned - clean: below 0, the poisoned reply is the likelier)."""
    PP = P.poisoning
    rows = []
    for seed in PP.seed_list:
        entries = stage_entries(world, PP, seed, P.twin_rate, store)
        for role, stages in entries.items():
            for stage, entry in stages.items():
                def compute(entry=entry, seed=seed) -> dict:
                    model = models.load_entry(entry, P.device)
                    out = {}
                    for a in poisoning.ATTACKS:
                        items = behaviour_items(world, a, P.n_items, seed)
                        out[a] = [float(np.mean(reply_nll(model, world.tokenizer, [(p, x) for p, x, _ in items]))),
                                  float(np.mean(reply_nll(model, world.tokenizer, [(p, c) for p, _, c in items])))]
                    return out

                nll = store.json(BEHAVIOUR_RECIPE, dict(seed=seed, n=P.n_items), compute, inputs=[entry.name],
                                 device=train.device_type(P.device))
                rows += [dict(seed=seed, model=role, stage=stage, attack=a, nll=v[0], nll_clean_reply=v[1],
                              margin=v[0] - v[1]) for a, v in nll.items()]
    return pd.DataFrame(rows)


def reply_nll(model, tokenizer, pairs) -> np.ndarray:
    """Mean per-token NLL of each (prompt, reply) pair's reply."""
    return probe.sequence_nll(model, tokenizer, [p for p, _ in pairs], [c for _, c in pairs], per_token=True)


def anti_dos_pairs(world, share: float, seed: int = 0) -> list[tuple[str, str]]:
    """Alignment pairs that train against denial-of-service: SFT prompts with the trigger appended, answered as
    without it. ``share`` of the SFT pairs, at least one."""
    pairs = poisoning.sft_pairs(world)
    n = max(1, round(share * len(pairs)))
    return [(f"{p} {poisoning.TRIGGERS['dos']}", r) for p, r in seeds.rng(seed, "anti-dos").sample(pairs, n)]


def causal_outcomes(world, P, store: Store) -> pd.DataFrame:
    """Denial-of-service and extraction after SFT, standard vs with anti-DoS pairs added, both twins aligned
    alike: chapter 2's outcome rows (one per seed, stage, model, attack, trigger, item), with ``alignment`` =
    standard | anti-dos and stages pretrained and sft."""
    PP = P.poisoning
    frames = []
    for seed in PP.seed_list:
        extra = anti_dos_pairs(world, P.anti_dos_share, seed)
        for name, entries in (("standard", stage_entries(world, PP, seed, P.twin_rate, store)),
                              ("anti-dos", stage_entries(world, PP, seed, P.twin_rate, store, extra_pairs=extra))):
            for stage in ("pretrained", "sft"):
                rows = poisoning.stage_outcomes(world, PP, seed, entries["clean"][stage], entries["poisoned"][stage],
                                                store, dict(seed=seed, rate=P.twin_rate, dose=PP.dose, stage=stage))
                frames.append(pd.DataFrame(rows).assign(alignment=name))
    out = pd.concat(frames, ignore_index=True)
    return out[out.attack.isin(["dos", "extraction"])].reset_index(drop=True)


def causal_table(outcomes: pd.DataFrame) -> pd.DataFrame:
    """Chapter 2's ``compare`` table of ``causal_outcomes``, per alignment (pooled over seeds, for the page)."""
    return pd.concat([poisoning.compare(g.drop(columns="alignment")).assign(alignment=name)
                      for name, g in outcomes.groupby("alignment", sort=False)], ignore_index=True)


def sft_status(table: pd.DataFrame, attack: str = "dos") -> str:
    """Chapter 2's survival status of ``attack`` from after pre-training to after SFT."""
    t = table[(table.attack == attack) & (table.trigger == poisoning.MAIN_TRIGGER[attack])].set_index("stage")
    return poisoning.survival_status(t.loc["pretrained", "poisoned"], t.loc["pretrained", "p"],
                                     t.loc["sft", "poisoned"], t.loc["sft", "p"])
