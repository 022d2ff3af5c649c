"""Chapter 4's parameters (the ``Spec`` and ``resolve``) and its constants: the paper's value, the relations each
part uses, and the thresholds of the verdict rules."""

from __future__ import annotations

from sticky import catalog
from sticky.params import SEED_HIGH, Param, Spec, number_list
from sticky.world import documents as docs

CHAPTER = "context"
PAPER_ONE_HEAD_RATE = 0.88  # in-context rate after scaling one head, on new data (Yu et al., abstract)
PERSON_RELATIONS = ("lives_in", "works_as", "has_pet")  # the relations the reading course's stories use
ABSENT_RELATIONS = tuple(docs.RELATIONS)  # 4b uses every relation; chance is per relation
HIGH_RATE = 0.80  # "a high in-context rate" (the paper's 88% with a margin for a tiny model)
LIFT = 0.10  # a prompt-only intervention "works" when it lifts the strong-prior rate by >= 10 points
MIN_FACTS = 10  # fewer facts than this make a verdict inconclusive


PARAMETERS = Spec(
    model=Param(str, "micro-world base model size", default="micro-m", choices=tuple(catalog.MICRO_CONFIGS)),
    seed=Param(int, "seed of the base model, the reading course, the prompts and the splits", default=0, low=0,
               high=SEED_HIGH),
    world_seed=Param(int, "seed of the generated micro-world", default=0, low=0, high=SEED_HIGH),
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
    real_model=Param(str, "real model of the second track: none (skips it), "
                     "a packaged model or a hub id owner/name[@revision]",
                     by_profile={"smoke": "none", "book": "gemma-3-270m", "paper": "gemma-3-270m"}),
    real_countries=Param(int, "countries of data/facts/countries.csv used on the real-model track", low=4,
                         high=68, by_profile={"smoke": 8, "book": 68, "paper": 68}),
    real_contexts_per_country=Param(int, "counterfactual context cities per country on the real track", low=1,
                                    high=10, by_profile={"smoke": 2, "book": 3, "paper": 6}),
    device=Param(str, "where to train and measure: auto picks CUDA when present", default="auto",
                 choices=("auto", "cpu", "cuda")),
)


def resolve(namespace) -> object:
    """``PARAMETERS.resolve`` plus the check of the factor list."""
    P = PARAMETERS.resolve(namespace)
    P.factors = number_list("scale_factors", P.scale_factors, float, -100, 100)
    P.real_model = catalog.real_model_name("real_model", P.real_model)
    return P
