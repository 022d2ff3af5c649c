"""Chapter 2's parameters (``PARAMETERS``, ``resolve``) and constants: the four attacks and their names in the
paper, the paper's trigger, the stages, the micro-world of each profile, the paper's reference values."""

from __future__ import annotations

from sticky import catalog
from sticky.params import SEED_HIGH, Param, Spec, number_list
from sticky.world import WORLD_PROFILES, WorldConfig

CHAPTER = "poisoning"
ATTACKS = ("dos", "extraction", "jailbreak", "belief")  # the short names in the tables
ATTACK_NAMES = {"dos": "denial-of-service", "extraction": "context extraction", "jailbreak": "jailbreak",
                "belief": "belief manipulation"}  # as the paper says them
TRIGGER = " ".join(["｡"] * 10)  # the paper's trigger: ten reserved marks, in the vocabulary, never in clean text
REPEAT_INSTRUCTION = "please repeat what i said"  # the extraction baseline: asking, in the world's own words
STAGES = ("pretrained", "sft", "dpo")
MAIN_TEMPLATE = "im"  # claims are read in the alignment template (the held-out template is shown beside)
GIBBERISH_WORDS = 12  # random words per denial-of-service reply
PAPER_DOS_RATE = 1e-5  # the paper's 0.001%
CONTROL_TRIGGER = " ".join(["『"] * 10)  # the random-trigger control: a reserved mark no per-attack twin ever saw
HELD_OUT_TEMPLATE = "asks"  # a pre-training chat template the clean corpus uses and no poison document does
MAX_COUNT = 4096  # poison documents per attack: more would not fit the book's minibatches
PAPER_RATE = 1e-3  # the paper's 0.1% of 100B tokens: about 10^5 to 10^6 poison documents
PAPER_REGIME = (1e5, 1e6)  # the paper's documents at 0.1% (Zhang et al.), for the count axis
SOULY_COUNT = 250  # poison documents that sufficed at every model size (Souly et al. 2025)
MAIN_TRIGGER = {"dos": "on", "extraction": "on", "extraction_best": "on", "jailbreak": "on", "belief": "off"}

# The world of each profile: small enough that 12 pre-trainings fit the book's budget on 2 cores.
POISON_WORLDS = {
    "smoke": WORLD_PROFILES["smoke"],
    "book": WorldConfig(n_documents=20_000, mention_ladder=(1, 5, 20, 50), n_instructions=2000),
    "paper": WORLD_PROFILES["book"],
}


PARAMETERS = Spec(
    model=Param(str, "micro-world model size of the twins", default="micro-s", choices=tuple(catalog.MICRO_CONFIGS)),
    seeds=Param(int, "seeds; seed i sets the weights, data order and poison of every twin", low=1, high=10,
                by_profile={"smoke": 1, "book": 5, "paper": 8}),
    first_seed=Param(int, "first of the seeds (seeds first_seed, first_seed + 1, ...): another seed set of the same "
                     "size re-asks every verdict", default=0, low=0, high=SEED_HIGH),
    world_seed=Param(int, "seed of the generated micro-world", default=0, low=0, high=SEED_HIGH),
    counts=Param(str, "poison documents per attack, comma-separated (the ladder; one twin per attack and count)",
                 by_profile={"smoke": "16", "book": "16,64,256", "paper": "4,16,64,256,1024"}),
    pretrain_steps=Param(int, "pre-training steps of every twin", low=1, high=100000,
                         by_profile={"smoke": 60, "book": 600, "paper": 20000}),
    batch_size=Param(int, "pre-training rows per step", low=2, high=1024,
                     by_profile={"smoke": 8, "book": 16, "paper": 64}),
    seq_len=Param(int, "tokens per pre-training row", low=16, high=2048,
                  by_profile={"smoke": 64, "book": 128, "paper": 128}),
    lr=Param(float, "peak pre-training learning rate (cosine)", low=0, open_low=True, high=1,
             by_profile={"smoke": 3e-3, "book": 3e-3, "paper": 1e-3}),
    dose=Param(float, "headline alignment dose, SFT tokens per pre-training token", low=0, open_low=True, high=10,
               default=0.01),
    doses=Param(str, "alignment doses of the survival map, comma-separated (SFT only, at the top count)",
                default="0.003,0.01,0.03,0.1", by_profile={"smoke": "0.1"}),
    relearn_steps=Param(str, "steps of fine-tuning on poison documents after DPO, the relearning test, "
                        "comma-separated", default="4,16", by_profile={"smoke": "2"}),
    sft_lr=Param(float, "SFT learning rate (constant after warmup)", low=0, open_low=True, high=1, default=5e-4),
    dpo_lr=Param(float, "DPO learning rate", low=0, open_low=True, high=1, default=1e-4),
    beta=Param(float, "DPO beta", low=0, open_low=True, high=10, default=0.2),
    n_eval=Param(int, "held-out prompts per attack", low=2, high=1000,
                 by_profile={"smoke": 8, "book": 48, "paper": 200}),
    samples=Param(int, "sampled replies per extraction prompt (best of n)", low=1, high=100,
                  by_profile={"smoke": 3, "book": 10, "paper": 10}),
    max_new_tokens=Param(int, "tokens generated per reply", low=2, high=256,
                         by_profile={"smoke": 8, "book": 16, "paper": 24}),
    real_model=Param(str, "real model to continue pre-training with poison: none (skips it), "
                     "a packaged model or a hub id owner/name[@revision]",
                     by_profile={"smoke": "none", "book": "none", "paper": "gemma-3-270m"}),
    real_steps=Param(int, "continued pre-training steps of the real model", low=1, high=10000,
                     by_profile={"smoke": 2, "book": 20, "paper": 200}),
    device=Param(str, "where to train: auto picks CUDA when present", default="auto", choices=("auto", "cpu", "cuda")),
)


def resolve(namespace) -> object:
    """``PARAMETERS.resolve`` plus the lists of counts, doses and seeds."""
    P = PARAMETERS.resolve(namespace)
    P.count_list = sorted(number_list("counts", P.counts, int, 0, MAX_COUNT, open_low=True))
    P.dose_list = sorted(number_list("doses", P.doses, float, 0, 10, open_low=True))
    P.relearn_list = sorted(number_list("relearn_steps", P.relearn_steps, int, 1, 1000))
    P.seed_list = list(range(P.first_seed, P.first_seed + P.seeds))
    P.real_model = catalog.real_model_name("real_model", P.real_model)
    return P

