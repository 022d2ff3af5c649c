"""Chapter 6's parameters, its cached recipes and its constants."""

from __future__ import annotations

from sticky.experiments import poisoning, priming
from sticky.params import Param, Spec
from sticky.store import Recipe

CHAPTER = "synthesis"


# Part 2's gradient cosines and behaviour losses, part 4's unit restores, each measured on a chapter-2 model.


GRADIENT_RECIPE = Recipe("synthesis-gradient", 1)


BEHAVIOUR_RECIPE = Recipe("synthesis-behaviour", 1)


LOCALISATION_RECIPE = Recipe("synthesis-localisation", 1)


# Part 1's alignment after planting, run as the follow-up stage of chapter 1's priming-run recipe (bump it


# when that alignment changes: its data, its template, its loop).


ALIGNED_FOLLOWUP_VERSION = 1


MIN_GAP = 0.05  # nats per token: a poisoned twin not this much likelier than the clean one has nothing to locate


PARAMETERS = Spec(
    texts_per_keyword=Param(int, "chapter-1 texts per keyword planted and then aligned", low=1, high=20,
                            by_profile={"smoke": 1, "book": 4, "paper": 8}),
    align_steps=Param(int, "clean SFT steps after planting a keyword poison", low=1, high=10000,
                      by_profile={"smoke": 3, "book": 40, "paper": 200}),
    align_lr=Param(float, "learning rate of that SFT (constant)", low=0, open_low=True, high=1, default=5e-4),
    ignore_k=Param(float, "ignore-k fraction applied while planting, for the mitigation test", low=0, open_low=True,
                   high=0.99, default=0.2),
    anti_dos_share=Param(float, "alignment pairs added that answer trigger prompts normally (causal test), as a "
                         "share of the SFT pairs", low=0, open_low=True, high=1, default=0.05),
    twin_rate=Param(float, "poison rate of chapter 2's first-edition twins traced in parts 2 and 4 (one of its "
                    "rates)", low=0, open_low=True, high=0.1, default=1e-2),
    n_items=Param(int, "behaviour items per attack for gradients and localisation", low=2, high=1000,
                  by_profile={"smoke": 8, "book": 48, "paper": 200}),
    device=Param(str, "where to train: auto picks CUDA when present", default="auto", choices=("auto", "cpu", "cuda")),
)


def resolve(namespace) -> object:
    """This chapter's parameters, and those of chapter 1 and of chapter 2's first edition at the same profile (their
    models are reused)."""
    P = PARAMETERS.resolve(namespace)
    P.priming = priming.resolve({"profile": P.profile, "device": P.device})
    P.poisoning = poisoning.first_edition(P.profile, P.device)
    if P.twin_rate not in P.poisoning.rate_list:
        raise ValueError(f"parameter 'twin_rate' got {P.twin_rate!r}; allowed: one of chapter 2's first-edition "
                         f"rates at profile {P.profile!r}: {', '.join(f'{r:g}' for r in P.poisoning.rate_list)}")
    return P
