"""Chapter 3's parameters: the ``Spec`` with its per-profile sizes, ``resolve`` (the checks of the string
parameters), the planted bias profiles and the paper's reference values."""

from __future__ import annotations

from sticky import catalog
from sticky.params import SEED_HIGH, Param, Spec, number_list

from .data import BIASES

CHAPTER = "biases"
PAPER = dict(silhouette_backbone=0.066, silhouette_data=0.034, silhouette_random=0.008, ch_backbone=1.97,
             ch_data=1.44, p_backbone=0.001, p_data=0.044, framing_olmo_low=0.36)
SEQ_LEN = 96  # tokens per fine-tuning row (every instruction example fits)
BACKBONE_SEQ = 64  # tokens per continued-pretraining row (planted documents are at most ~60 tokens)
REAL_MODELS = ("none", *catalog.PACKAGED)


def _profile_text(profile: dict[str, float]) -> str:
    return ",".join(f"{b}={v:g}" for b, v in profile.items())


# The planted profiles. Backbone A: every bias at full strength (a world written by biased people). Backbone
# B: the decision-under-risk biases and anchoring reversed, the social ones (status quo, bandwagon, halo) the
# same, so the backbones differ on four biases and agree on three. The instruction sets push terse +1 /
# chatty -1 on alternate biases: a direction that is not orthogonal to the backbones' difference (three of
# the four differing biases are pushed the way A differs from B; ``direction_cosine`` gives the cosine).
PROFILE_A = {"framing": 1.0, "anchoring": 1.0, "certainty": 1.0, "status_quo": 1.0, "bandwagon": 1.0, "halo": 1.0,
             "sunk_cost": 1.0}
PROFILE_B = dict(PROFILE_A, framing=-1.0, anchoring=-1.0, certainty=-1.0, sunk_cost=-1.0)
PROFILE_TERSE = {b: (1.0 if i % 2 == 0 else -1.0) for i, b in enumerate(PROFILE_A)}
PROFILE_CHATTY = {b: -v for b, v in PROFILE_TERSE.items()}


def direction_cosine(profiles: dict[str, dict[str, float]]) -> float:
    """Cosine, over the biases, between the backbones' planted difference (A - B) and the instruction sets'
    (terse - chatty): 0 would make the instruction signal orthogonal to the backbone difference."""
    import numpy as np

    backbone = np.array([profiles["A"][b] - profiles["B"][b] for b in BIASES])
    data = np.array([profiles["terse"][b] - profiles["chatty"][b] for b in BIASES])
    norm = np.linalg.norm(backbone) * np.linalg.norm(data)
    return float(backbone @ data / norm) if norm > 0 else float("nan")


PARAMETERS = Spec(
    model=Param(str, "micro-world base model size", default="micro-m", choices=tuple(catalog.MICRO_CONFIGS)),
    seed=Param(int, "seed of the shared base model", default=0, low=0, high=SEED_HIGH),
    world_seed=Param(int, "seed of the generated micro-world", default=0, low=0, high=SEED_HIGH),
    profile_a=Param(str, "bias profile planted in backbone A: a dial from -1 to 1 per bias (see biases.PROFILE_A)",
                    default=_profile_text(PROFILE_A)),
    profile_b=Param(str, "bias profile planted in backbone B", default=_profile_text(PROFILE_B)),
    profile_terse=Param(str, "bias profile of the terse instruction set's bias examples",
                        default=_profile_text(PROFILE_TERSE)),
    profile_chatty=Param(str, "bias profile of the chatty instruction set's bias examples",
                         default=_profile_text(PROFILE_CHATTY)),
    bias_documents=Param(int, "planted bias documents per backbone", low=7, high=1_000_000,
                         by_profile={"smoke": 140, "book": 4200, "paper": 42000}),
    bias_share=Param(float, "share of continued-pretraining rows made of planted documents", low=0, high=1,
                     open_low=True, open_high=True, default=0.5),
    backbone_steps=Param(int, "continued-pretraining steps per backbone", low=1, high=100_000,
                         by_profile={"smoke": 15, "book": 300, "paper": 3000}),
    backbone_lr=Param(float, "continued-pretraining peak learning rate", low=0, open_low=True, high=1, default=2e-3),
    sft_steps=Param(int, "fine-tuning steps per tuned model (same recipe in every cell)", low=1, high=100_000,
                    by_profile={"smoke": 8, "book": 60, "paper": 1500}),
    sft_lr=Param(float, "fine-tuning peak learning rate", low=0, open_low=True, high=1, default=5e-4),
    batch_size=Param(int, "rows per step (continued pretraining and fine-tuning)", low=2, high=1024,
                     by_profile={"smoke": 8, "book": 32, "paper": 64}),
    instruction_dose=Param(float, "share of each instruction set replaced by its bias examples (headline)",
                           low=0, high=1, default=0.05),
    dose_sweep=Param(str, "instruction doses of the sweep (comma-separated, in [0, 1])",
                     by_profile={"smoke": "0,0.3", "book": "0,0.05,0.3,0.8", "paper": "0,0.02,0.05,0.1,0.2,0.4"}),
    sweep_seeds=Param(int, "seeds per cell in the dose sweep", low=1, high=10,
                      by_profile={"smoke": 1, "book": 2, "paper": 3}),
    seeds=Param(int, "seeds per backbone x instruction-set cell (data order and bias-example draw)", low=2, high=10,
                by_profile={"smoke": 2, "book": 3, "paper": 5}),
    scenarios=Param(int, "probe scenarios per bias (each a control/treatment pair)", low=5, high=200,
                    by_profile={"smoke": 5, "book": 8, "paper": 30}),
    permutations=Param(int, "label permutations per p-value", low=100, high=100_000,
                       by_profile={"smoke": 200, "book": 1000, "paper": 10000}),
    gate_min_diff=Param(float, "gate: smallest backbone difference that counts as showing a planted difference",
                        low=0, high=2, default=0.05),
    real_models=Param(str, "real models of the second track (comma-separated) or none",
                      by_profile={"smoke": "none", "book": "smollm2-135m-instruct,gemma-3-270m",
                                  "paper": "smollm2-135m-instruct,gemma-3-270m"}),
    real_backbones=Param(str, "the two real backbones of the real cross-tuning (packaged names or hub ids, "
                         "comma-separated) or none", by_profile={"smoke": "none", "book": "none",
                                                                 "paper": "gemma-3-270m,smollm2-135m-instruct"}),
    real_examples=Param(int, "examples in each English instruction set of the real cross-tuning", low=8,
                        high=10_000_000, by_profile={"smoke": 64, "book": 2000, "paper": 30000}),
    real_steps=Param(int, "LoRA steps per real tuned model (same recipe in every cell)", low=1, high=1_000_000,
                     by_profile={"smoke": 2, "book": 100, "paper": 2800}),
    real_batch_size=Param(int, "examples per LoRA step of the real cross-tuning", low=1, high=1024,
                          by_profile={"smoke": 2, "book": 8, "paper": 32}),
    real_lr=Param(float, "LoRA peak learning rate of the real cross-tuning", low=0, open_low=True, high=1,
                  default=2e-4),
    lora_rank=Param(int, "LoRA rank of the real cross-tuning (alpha twice the rank; every linear layer)", low=1,
                    high=4096, default=64),
    real_seeds=Param(int, "seeds per real backbone x instruction-set cell (data order and adapter initialisation)",
                     low=2, high=10, default=3),
    device=Param(str, "where to train: auto picks CUDA when present", default="auto", choices=("auto", "cpu", "cuda")),
)


def resolve(namespace) -> object:
    """``PARAMETERS.resolve`` plus the checks of the string parameters (profiles, doses, model lists)."""
    P = PARAMETERS.resolve(namespace)
    P.profiles = {"A": parse_profile("profile_a", P.profile_a), "B": parse_profile("profile_b", P.profile_b),
                  "terse": parse_profile("profile_terse", P.profile_terse),
                  "chatty": parse_profile("profile_chatty", P.profile_chatty)}
    P.doses = sorted(set(number_list("dose_sweep", P.dose_sweep, float, 0, 1)))
    names = [n.strip() for n in P.real_models.split(",") if n.strip()]
    if not names or any(n not in REAL_MODELS for n in names) or ("none" in names and len(names) > 1):
        raise ValueError(f"parameter 'real_models' got {P.real_models!r}; allowed: none, or a comma-separated subset "
                         f"of {', '.join(catalog.PACKAGED)}")
    P.real = [] if names == ["none"] else names
    P.real_backbones = real_backbone_names(P.real_backbones)
    return P


def real_backbone_names(text: str) -> list[str]:
    """``none`` or two distinct loadable models (packaged names, or hub ids when online or cached), else a
    one-line ValueError naming the parameter."""
    names = [n.strip() for n in str(text).split(",") if n.strip()]
    allowed = f"none, or two distinct comma-separated models: {', '.join(catalog.PACKAGED)} or hub ids owner/name"
    if names == ["none"]:
        return []
    if len(names) != 2 or len(set(names)) != 2 or "none" in names or any(n in catalog.MICRO_CONFIGS for n in names):
        raise ValueError(f"parameter 'real_backbones' got {text!r}; allowed: {allowed}")
    for name in names:
        catalog.check_parameter_model("real_backbones", text, name, allowed, ", ".join(catalog.PACKAGED))
    return names


def parse_profile(name: str, text: str) -> dict[str, float]:
    """"framing=1,anchoring=-1,..." (every bias, dials in [-1, 1]) or one number for all, else a one-line
    ValueError naming the parameter."""
    allowed = f"one dial in [-1, 1], or bias=dial pairs for each of {', '.join(BIASES)}"
    try:
        if "=" not in str(text):
            value = float(text)
            profile = {b: value for b in BIASES}
        else:
            profile = {}
            for part in str(text).split(","):
                key, value = part.split("=")
                profile[key.strip()] = float(value)
    except ValueError:
        raise ValueError(f"parameter {name!r} got {text!r}; allowed: {allowed}") from None
    if set(profile) != set(BIASES) or any(not -1 <= v <= 1 for v in profile.values()):
        raise ValueError(f"parameter {name!r} got {text!r}; allowed: {allowed}")
    return profile
