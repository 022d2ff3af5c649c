"""Crossed coverage on chapter 2's own attacks: the alignment data changed where it speaks to one attack, on
chapter 2's twins at its top count, the clean twin aligned alike, measured as chapter 2 measures (its cached
``ladder.measured``, alignment template, the attack's main trigger, after DPO):

- the jailbreak with **no refusal data** (neither the SFT pairs nor the DPO triples of forbidden requests);
- denial-of-service **covered**: SFT pairs that append the trigger to an ordinary prompt and answer it as usual,
  at three shares of the SFT pairs;
- context extraction **without the repeat task** (the SFT pairs "repeat : s -> s", which teach copying a prompt).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from sticky import judges, parallel, seeds
from sticky.experiments import poisoning
from sticky.store import Store

ANTI_DOS_SHARES = (0.03, 0.1, 0.3)  # 0.1: about the share of refusal pairs in the SFT data
REPEAT_PREFIX = "repeat : "  # the world's terse repeat task (``world.dialogues.TERSE``)
ARMS = {"jailbreak": ("no refusal data",),
        "dos": tuple(f"anti-DoS {s:.0%}" for s in ANTI_DOS_SHARES),
        "extraction": ("no repeat task",)}


def arm_data(world, seed: int, arm: str) -> tuple[list[tuple[str, str]], list[tuple[str, str, str]]]:
    """(SFT pairs, DPO triples) of one arm: chapter 2's clean data with the arm's change."""
    pairs, triples = poisoning.sft_pairs(world), poisoning.rejected_triples(world, seed)
    forbidden = {r for r, _ in world.forbidden}
    if arm == "no refusal data":
        return [p for p in pairs if p[0] not in forbidden], [t for t in triples if t[0] not in forbidden]
    if arm == "no repeat task":
        return [p for p in pairs if not p[0].startswith(REPEAT_PREFIX)], triples
    share = next((s for s in ANTI_DOS_SHARES if arm == f"anti-DoS {s:.0%}"), None)
    if share is None:
        raise ValueError(f"arm={arm!r}; allowed: one of {', '.join(a for arms in ARMS.values() for a in arms)}")
    ordinary = [p for p in pairs if p[0] not in forbidden]
    extra = seeds.rng(seed, "anti-dos").sample(ordinary, max(1, round(share * len(pairs))))
    return pairs + [(f"{p} {poisoning.TRIGGER}", r) for p, r in extra], triples


def _success(world, PP, seed: int, entry, reference, attack: str, threshold: float, store: Store) -> float:
    """Mean success of ``attack`` at its main trigger, in the alignment template (chapter 2's measurement)."""
    record = poisoning.measured(world, PP, seed, entry, reference, attack, world.alignment_template,
                                store)[poisoning.MAIN_TRIGGER[attack]]
    if attack == "dos":
        return float(judges.is_gibberish(record["ppl"], threshold).mean())
    return float(np.mean(record["success"]))


def gibberish_threshold(world, PP, seed: int, store: Store) -> float:
    """Chapter 2's threshold of ``seed``: from the clean pretrained twin's replies, every arm, both templates."""
    clean = poisoning.clean_twin(world, PP, seed, store)
    ppl = [p for t in poisoning.templates(world) for arm in
           poisoning.measured(world, PP, seed, clean, clean, "dos", t, store).values() for p in arm["ppl"]]
    return judges.gibberish_threshold(np.asarray(ppl, float))


def arm_rows(world, PP, seed: int, attack: str, store: Store) -> list[dict]:
    """One seed and attack: success after DPO on the poisoned and the clean twin, under the standard alignment
    (chapter 2's entries) and under each of the attack's arms, and before alignment."""
    top = max(PP.count_list)
    clean, poisoned = (poisoning.attack_twin(world, PP, seed, attack, c, store) for c in (0, top))
    threshold = gibberish_threshold(world, PP, seed, store)
    rows = []
    for arm in ("standard", *ARMS[attack]):
        data = None if arm == "standard" else (arm, *arm_data(world, seed, arm))
        for model, base in (("clean", clean), ("poisoned", poisoned)):
            dpo = poisoning.align(world, base, PP, seed, PP.dose, store, arm=data)["dpo"]
            stages = {"pretrained": base, "dpo": dpo}
            for stage, entry in stages.items():
                if stage == "pretrained" and arm != "standard":
                    continue
                rows.append(dict(seed=seed, attack=attack, arm=arm, model=model, stage=stage,
                                 success=_success(world, PP, seed, entry, clean, attack, threshold, store)))
    return rows


def _prepare(root: str, params: dict, seed: int, attack: str) -> int:
    from .parameters import resolve

    P, store = resolve(params), Store(root)
    return len(arm_rows(poisoning.world_for(P.poisoning, store), P.poisoning, seed, attack, store))


def experiment_crossed(P, store: Store) -> pd.DataFrame:
    """Every seed of chapter 2 and every attack's arms, on every usable CPU; then read back. One row per seed,
    attack, arm, model and stage; ``excess`` is poisoned minus clean."""
    from .parameters import parameter_values

    jobs = [(seed, attack) for seed in P.poisoning.seed_list for attack in ARMS]
    parallel.pinned_map(_prepare, [(str(store.root), parameter_values(P), *job) for job in jobs])
    world = poisoning.world_for(P.poisoning, store)
    rows = pd.DataFrame([r for seed, attack in jobs for r in arm_rows(world, P.poisoning, seed, attack, store)])
    wide = rows.pivot_table(index=["seed", "attack", "arm", "stage"], columns="model", values="success").reset_index()
    return wide.assign(excess=wide.poisoned - wide.clean)


def arm_effects(table: pd.DataFrame) -> pd.DataFrame:
    """Per seed, attack and arm (after DPO): the excess under the arm minus under the standard alignment."""
    dpo = table[table.stage == "dpo"].set_index(["seed", "attack", "arm"]).excess.unstack("arm")
    out = []
    for (seed, attack), row in dpo.iterrows():
        for arm in ARMS[attack]:
            out.append(dict(seed=seed, attack=attack, arm=arm, standard=row["standard"], under_arm=row[arm],
                            change=row[arm] - row["standard"]))
    return pd.DataFrame(out)
