"""Chapter 1's parameters (``PARAMETERS``, ``resolve``) and its constants: the learning rows' length, the
spacing of spaced exposures, the paper's threshold, the real models the second track can use."""

from __future__ import annotations

from sticky import catalog
from sticky.params import SEED_HIGH, Param, Spec, number_list

CHAPTER = "priming"
LEARN_SEQ = 64  # tokens per row of the learning minibatches (micro-world)
SPACING = 20  # minibatches between spaced exposures (the paper's setting)
PAPER_THRESHOLD = 1e-3  # the paper's p_before threshold between strong and weak priming


PARAMETERS = Spec(
    model=Param(str, "micro-world base model size", default="micro-m", choices=tuple(catalog.MICRO_CONFIGS)),
    seed=Param(int, "seed of the base model, the background stream and the texts", default=0, low=0,
               high=SEED_HIGH),
    world_seed=Param(int, "seed of the generated micro-world", default=0, low=0, high=SEED_HIGH),
    keywords_per_theme=Param(int, "keywords per theme, spread along its frequency ladder", low=1, high=20,
                             by_profile={"smoke": 1, "book": 3, "paper": 5}),
    texts_per_keyword=Param(int, "outlandish texts per keyword, each learned from a fresh copy", low=1, high=100,
                            by_profile={"smoke": 2, "book": 8, "paper": 20}),
    learn_steps=Param(int, "minibatches with the text inserted (consecutive) in the main condition", low=1,
                      high=1000, by_profile={"smoke": 2, "book": 10, "paper": 10}),
    batch_size=Param(int, "rows per learning minibatch (the text replaces one)", low=2, high=1024,
                     by_profile={"smoke": 4, "book": 16, "paper": 32}),
    lr=Param(float, "learning rate of the learning phase (constant, AdamW)", low=0, open_low=True, high=1,
             by_profile={"smoke": 1e-3, "book": 5e-4, "paper": 5e-4}),
    exposures=Param(str, "spaced exposure counts (every 20 minibatches), compared with the consecutive run",
                    default="1,3"),
    ignore_k_values=Param(str, "ignore-k percentages to compare (0 = no pruning)", default="0,2,8,20",
                          by_profile={"smoke": "0,8"}),
    real_model=Param(str, "real model of the second track: none (skips it), "
                     "a packaged model or a hub id owner/name[@revision]",
                     by_profile={"smoke": "none", "book": "gemma-3-270m", "paper": "gemma-3-270m"}),
    real_texts_per_keyword=Param(int, "texts per keyword on the real-model track", low=1, high=10,
                                 by_profile={"smoke": 1, "book": 3, "paper": 3}),
    real_steps=Param(int, "minibatches with the text inserted on the real-model track", low=1, high=100,
                     by_profile={"smoke": 1, "book": 3, "paper": 10}),
    device=Param(str, "where to train: auto picks CUDA when present", default="auto", choices=("auto", "cpu", "cuda")),
)


def resolve(namespace) -> object:
    """``PARAMETERS.resolve`` plus the checks of the string parameters (lists of ints).

    Introduced in chapter 1 (priming); used by chapter 6 (synthesis)."""
    P = PARAMETERS.resolve(namespace)
    P.exposure_counts = number_list("exposures", P.exposures, int, 1, 10)
    P.ignore_k = [k / 100 for k in number_list("ignore_k_values", P.ignore_k_values, int, 0, 99)]
    P.real_model = catalog.real_model_name("real_model", P.real_model)
    return P
