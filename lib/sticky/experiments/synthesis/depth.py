"""Part 7, depth: where in the poisoned twin each backdoor's effect lives, before alignment and after it.

A *unit* is a set of parameters restored jointly from the clean twin into the poisoned twin at the same stage
(``hooks.restored``): the lower half of the layers, the upper half (with the final norm), every layer, and the
embedding on its own. The embedding is tied to the output layer in these models, so restoring it resets every
token's input and output vector at once (any triggered behaviour dies with the code word's vector); it is never
part of a half. A unit's *share* of the effect is the margin it removes over the whole effect,
(poisoned - restored) / (poisoned - clean), pooled over a seed's backdoors (a ratio of sums: a backdoor with a small
effect cannot blow it up). Halves are restored jointly, never summed from single layers.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from sticky import hooks, models, train
from sticky.store import Recipe, Store

from .analysis import MIN_EFFECT
from .backdoors import margins

DEPTH_RECIPE = Recipe("synthesis-depth", 1)
STAGES = ("pretrained", "dpo")  # before alignment; after SFT to the top dose and DPO


def layer_of(name: str) -> int | None:
    """The decoder layer a parameter belongs to (``model.layers.i.``), or None."""
    parts = name.split(".")
    return int(parts[parts.index("layers") + 1]) if "layers" in parts else None


def units(n_layers: int) -> dict[str, callable]:
    """{unit: parameter name -> whether it is restored}; the halves split the layers at ``n_layers // 2``."""
    half = max(1, n_layers // 2)
    lower = lambda n: layer_of(n) is not None and layer_of(n) < half
    upper = lambda n: (layer_of(n) is not None and layer_of(n) >= half) or n.endswith("model.norm.weight")
    return {"lower half": lower, "upper half": upper, "all layers": lambda n: lower(n) or upper(n),
            "embedding": lambda n: "embed_tokens" in n}


def restore_margins(world, P, backdoors: pd.DataFrame, poisoned: Path, clean: Path, store: Store) -> dict:
    """Cached: {'poisoned', 'clean', each unit: the on-trigger margins of every backdoor} for one pair of twins at one
    stage, the unit restored from ``clean`` into ``poisoned``."""
    def compute() -> dict:
        pois, ref = models.load_entry(poisoned, P.device), models.load_entry(clean, P.device)
        out = {"poisoned": margins(pois, world, backdoors, P.n_eval)["on"],
               "clean": margins(ref, world, backdoors, P.n_eval)["on"]}
        for unit, names in units(pois.config.num_hidden_layers).items():
            out[unit] = margins(hooks.restored(pois, ref, names), world, backdoors, P.n_eval)["on"]
        return out

    key = dict(backdoors=backdoors.to_dict("records"), n_eval=P.n_eval, poisoned=_name(poisoned, store),
               clean=_name(clean, store))
    return store.json(DEPTH_RECIPE, key, compute, inputs=[poisoned.name, clean.name],
                      device=train.device_type(P.device))


def records(seed: int, by_stage: dict[str, dict]) -> pd.DataFrame:
    """One row per backdoor, stage and unit of a seed: the twins' margins and the restored one."""
    rows = []
    for stage, m in by_stage.items():
        for unit in (u for u in m if u not in ("poisoned", "clean")):
            rows += [dict(seed=seed, backdoor=b, stage=stage, unit=unit, poisoned=p, clean=c, restored=r)
                     for b, (p, c, r) in enumerate(zip(m["poisoned"], m["clean"], m[unit]))]
    return pd.DataFrame(rows)


def shares(depth: pd.DataFrame, eff: pd.DataFrame) -> pd.DataFrame:
    """Per seed, stage and unit: the share of the effect the unit removes, pooled over the backdoors that took and,
    after alignment, still hold at least ``MIN_EFFECT`` (an effect alignment removed has nothing to locate).
    Columns: seed, stage, unit, share, backdoors."""
    d = depth.merge(eff[["seed", "backdoor", "took"]], on=["seed", "backdoor"])
    d = d[d.took & ((d.stage == "pretrained") | (d.poisoned - d.clean >= MIN_EFFECT))]
    g = d.assign(removed=d.poisoned - d.restored, effect=d.poisoned - d.clean).groupby(["seed", "stage", "unit"])
    out = g[["removed", "effect"]].sum()
    return out.assign(share=out.removed / out.effect, backdoors=g.size()).reset_index()[
        ["seed", "stage", "unit", "share", "backdoors"]]


def share_change(sh: pd.DataFrame, unit: str = "lower half") -> np.ndarray:
    """Per seed with a share at both stages: the unit's share after alignment minus before (rule 10's unit)."""
    wide = sh[sh.unit == unit].pivot(index="seed", columns="stage", values="share").dropna()
    return (wide["dpo"] - wide["pretrained"]).to_numpy() if len(wide) else np.array([])


def backdoor_shares(depth: pd.DataFrame, unit: str = "lower half", stage: str = "pretrained") -> pd.DataFrame:
    """Per backdoor: the unit's share of its own effect at ``stage`` (for the check that deeper backdoors persist)."""
    d = depth[(depth.unit == unit) & (depth.stage == stage)]
    return d.assign(share=(d.poisoned - d.restored) / (d.poisoned - d.clean))[["seed", "backdoor", "share"]]


def _name(entry: Path, store: Store) -> str:
    return entry.relative_to(store.root).as_posix()  # the key names the models, wherever the store is


def seed_depth(world, PP, P, seed: int, store: Store) -> pd.DataFrame:
    """``records`` of one seed: its twins before alignment, and after DPO (the models ``backdoors.aligned`` kept)."""
    from .backdoors import aligned, seed_twins

    backdoors, twins = seed_twins(world, PP, P, seed, store)
    dpo = {twin: aligned(world, PP, P, seed, base, backdoors, store) / "dpo" for twin, base in twins.items()}
    by_stage = {stage: restore_margins(world, P, backdoors, pair["poisoned"], pair["clean"], store)
                for stage, pair in zip(STAGES, (twins, dpo))}
    return records(seed, by_stage)


def experiment_depth(P, store: Store) -> pd.DataFrame:
    """``seed_depth`` of every seed, read back from the store after ``backdoors.experiment``."""
    from sticky.experiments import poisoning

    world = poisoning.world_for(P.poisoning, store)
    return pd.concat([seed_depth(world, P.poisoning, P, s, store) for s in P.seed_list], ignore_index=True)
