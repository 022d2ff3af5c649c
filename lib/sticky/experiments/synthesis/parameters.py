"""Chapter 6's parameters (``PARAMETERS``, ``resolve``) and its constants."""

from __future__ import annotations

from sticky.experiments import poisoning
from sticky.params import SEED_HIGH, Param, Spec, number_list

CHAPTER = "synthesis"

PARAMETERS = Spec(
    seeds=Param(int, "seeds; seed i is chapter 2's clean twin i, its poisoned twin and its backdoors' design",
                low=1, high=10, by_profile={"smoke": 1, "book": 5, "paper": 8}),
    first_seed=Param(int, "first of the seeds (seeds first_seed, first_seed + 1, ...): 5, after the pilot's seed 0 "
                     "and chapter 2's seeds", default=5, low=0,
                     high=SEED_HIGH),
    backdoors=Param(int, "trigger -> target backdoors per poisoned twin (a multiple of 12: kinds x exposure counts "
                    "x coverage arms)", low=12, high=72, by_profile={"smoke": 12, "book": 48, "paper": 72}),
    exposures=Param(str, "poison documents per backdoor, two comma-separated counts (half the backdoors each)",
                    default="24,96", by_profile={"smoke": "4,8"}),
    doses=Param(str, "alignment doses, SFT tokens per pre-training token, comma-separated (DPO follows the top one)",
                default="0.001,0.003,0.01,0.03,0.1", by_profile={"smoke": "0.01,0.1"}),
    relearn_steps=Param(str, "steps of fine-tuning on the poison documents after DPO (relearning), comma-separated",
                        default="4,16", by_profile={"smoke": "2"}),
    ignore_k=Param(int, "ignore-k percentage in the mitigation arm: both twins pre-trained with each step's largest "
                   "updates undone (0 skips the arm)", default=8, low=0, high=50),
    n_eval=Param(int, "held-out prompts per backdoor", low=2, high=200, by_profile={"smoke": 4, "book": 16,
                                                                                      "paper": 32}),
    device=Param(str, "where to train: auto picks CUDA when present", default="auto", choices=("auto", "cpu", "cuda")),
)


def resolve(namespace) -> object:
    """This chapter's parameters, with chapter 2's at the same profile (``P.poisoning``: its world, its twins' recipe,
    its alignment's learning rates) and the parsed lists."""
    P = PARAMETERS.resolve(namespace)
    if P.backdoors % 12:
        raise ValueError(f"parameter 'backdoors' got {P.backdoors}; allowed: a multiple of 12 in [12, 72]")
    P.exposure_list = sorted(number_list("exposures", P.exposures, int, 1, poisoning.MAX_COUNT))
    if len(P.exposure_list) != 2 or P.exposure_list[0] == P.exposure_list[1]:
        raise ValueError(f"parameter 'exposures' got {P.exposures!r}; allowed: two different counts, e.g. 24,96")
    P.dose_list = sorted(number_list("doses", P.doses, float, 0, 1, open_low=True))
    P.relearn_list = sorted(number_list("relearn_steps", P.relearn_steps, int, 1, 1000))
    P.seed_list = list(range(P.first_seed, P.first_seed + P.seeds))
    P.poisoning = poisoning.resolve({"profile": P.profile, "device": P.device})
    return P


def parameter_values(P) -> dict:
    """The parameters as given to ``resolve`` (for a worker process to resolve them again)."""
    return {name: getattr(P, name) for name in PARAMETERS}
