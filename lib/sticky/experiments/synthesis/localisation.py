"""Part 4: where does each behaviour live? Units of the poisoned twin restored from the clean twin."""

from __future__ import annotations

import numpy as np
import pandas as pd

from sticky import hooks, models, train
from sticky.experiments import poisoning
from sticky.store import Store

from .gradient import behaviour_items, reply_nll, stage_entries, unit_of
from .parameters import LOCALISATION_RECIPE


def restored_share(nll_poisoned: float, nll_clean: float, nll_patched: float) -> float:
    """The share of the poison's effect that restoring a unit removes: (patched - poisoned) / (clean - poisoned),
    on the behaviour's NLL (NaN when the twins do not differ)."""
    gap = nll_clean - nll_poisoned
    return (nll_patched - nll_poisoned) / gap if abs(gap) > 1e-9 else np.nan


def patch_from_clean(world, P, store: Store, behaviour: pd.DataFrame) -> pd.DataFrame:
    """Per seed, stage (before / after alignment), attack and unit: the share of the behaviour's NLL gap
    (clean - poisoned) that restoring the unit from the clean twin at the same stage closes. The twins' own
    NLLs are read from ``behaviour`` (``behaviour_loss``), measured on the same items."""
    PP = P.poisoning
    nll = behaviour.set_index(["seed", "model", "stage", "attack"]).nll
    rows = []
    for seed in PP.seed_list:
        entries = stage_entries(world, PP, seed, P.twin_rate, store)
        for stage in ("pretrained", "dpo"):
            def compute(stage=stage, entries=entries, seed=seed) -> list[dict]:
                pois = models.load_entry(entries["poisoned"][stage], P.device)
                clean = models.load_entry(entries["clean"][stage], P.device)
                units = list(dict.fromkeys(unit_of(n) for n, _ in pois.named_parameters()))
                out = []
                for attack in poisoning.ATTACKS:
                    items = [(p, x) for p, x, _ in behaviour_items(world, attack, P.n_items, seed)]
                    poisoned, cleaned = (float(nll[(seed, m, stage, attack)]) for m in ("poisoned", "clean"))
                    for unit in units:
                        patched = hooks.restored(pois, clean, lambda n, unit=unit: unit_of(n) == unit)
                        out.append(dict(attack=attack, unit=unit, gap=cleaned - poisoned, share=restored_share(
                            poisoned, cleaned, float(np.mean(reply_nll(patched, world.tokenizer, items))))))
                return out

            rows += [dict(r, seed=seed, stage=stage) for r in store.json(
                LOCALISATION_RECIPE, dict(seed=seed, n=P.n_items), compute,
                inputs=[entries["poisoned"][stage].name, entries["clean"][stage].name],
                device=train.device_type(P.device))]
    return pd.DataFrame(rows)


def lower_share(loc: pd.DataFrame) -> pd.DataFrame:
    """Per attack and stage: the mean (over seeds) share restored by the lower half of the network (the
    embeddings and the first half of the layers), and the NLL gap it is a share of."""
    layers = sorted({u for u in loc.unit if u.startswith("layer")}, key=lambda u: int(u.split()[1]))
    lower = {"embeddings", *layers[:max(1, len(layers) // 2)]}
    low = loc[loc.unit.isin(lower)].groupby(["attack", "stage", "seed"]).share.sum()
    gap = loc.groupby(["attack", "stage", "seed"]).gap.first()
    return pd.DataFrame({"lower_share": low, "gap": gap}).groupby(["attack", "stage"]).mean().reset_index()
