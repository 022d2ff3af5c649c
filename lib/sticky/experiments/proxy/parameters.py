"""Chapter 5's parameters (the ``Spec`` the notebook and the command line read), their checks, and the
chapter's constants."""

from __future__ import annotations

from pathlib import Path

from sticky import models
from sticky.params import Param, Spec, number_list

CHAPTER = "proxy"
DATA = Path(__file__).resolve().parents[4] / "data" / "proxy"  # lib/sticky/experiments/proxy/ → ./data/proxy
PAPER_GAP_CLOSED = (0.88, 0.91)  # 70B and 13B averages (the paper's abstract)
TASKS = ("instruction", "knowledge", "counting")
ARMS = ("base", "small base", "expert", "proxy", "direct")  # the paper's four arms, and the anti-expert alone
ALPHAS_DEFAULT = "0.25,0.5,1,1.5,2"
REAL_NONE = "none"


PARAMETERS = Spec(
    small=Param(str, "small base: the expert is it fine-tuned, the anti-expert is it untouched",
                default="micro-s", choices=tuple(models.MICRO_CONFIGS)),
    large=Param(str, "large base: proxy-tuned, and fine-tuned directly for comparison",
                choices=tuple(models.MICRO_CONFIGS),
                by_profile={"smoke": "micro-m", "book": "micro-m", "paper": "micro-l"}),
    style=Param(str, "instruction format: polite (words the bases know) or chatty (the world's, unseen words)",
                default="polite", choices=tuple(["polite", "chatty"])),
    contrast_seeds=Param(int, "fine-tuning seeds of the contrast run in the other style (0 skips it)", low=0, high=10,
                         default=1),
    seed=Param(int, "seed of the base models", default=0, low=0),
    world_seed=Param(int, "seed of the generated micro-world", default=0, low=0),
    sft_seeds=Param(int, "fine-tuning seeds (expert and direct each tuned once per seed)", low=1, high=10,
                    by_profile={"smoke": 1, "book": 3, "paper": 5}),
    sft_steps=Param(int, "fine-tuning steps (same recipe for expert and direct)", low=1, high=100_000,
                    by_profile={"smoke": 20, "book": 400, "paper": 2000}),
    sft_lr=Param(float, "fine-tuning peak learning rate (AdamW, cosine)", low=0, open_low=True, high=1, default=1e-3),
    sft_batch=Param(int, "fine-tuning batch size (pairs per step)", low=1, high=1024,
                    by_profile={"smoke": 8, "book": 16, "paper": 32}),
    items_per_task=Param(int, "evaluation items per task", low=2, high=10_000,
                         by_profile={"smoke": 6, "book": 90, "paper": 300}),
    alpha=Param(float, "the proxy's strength alpha in s_M + alpha (s_M+ - s_M-)", low=0, high=10, default=1.0),
    alphas=Param(str, "alpha values of the sweep (comma-separated)", default=ALPHAS_DEFAULT,
                 by_profile={"smoke": "0.5,1"}),
    bench_new_tokens=Param(int, "new tokens per prompt in the decoding benchmark", low=1, high=1024, default=64),
    bench_prompts=Param(int, "prompts decoded together in the decoding benchmark", low=1, high=256,
                        by_profile={"smoke": 2, "book": 8, "paper": 32}),
    real_large=Param(str, "hub id of the large base on the real track (none skips it)",
                     by_profile={"smoke": REAL_NONE, "book": REAL_NONE, "paper": "Qwen/Qwen2.5-1.5B"}),
    real_direct=Param(str, "hub id of the large base's own instruct version (the direct arm)",
                      by_profile={"smoke": REAL_NONE, "book": REAL_NONE, "paper": "Qwen/Qwen2.5-1.5B-Instruct"}),
    real_small=Param(str, "hub id of the small base (anti-expert)",
                     by_profile={"smoke": REAL_NONE, "book": REAL_NONE, "paper": "Qwen/Qwen2.5-0.5B"}),
    real_expert=Param(str, "hub id of the small base's instruct version (expert)",
                      by_profile={"smoke": REAL_NONE, "book": REAL_NONE, "paper": "Qwen/Qwen2.5-0.5B-Instruct"}),
    device=Param(str, "where to train and decode: auto picks CUDA when present", default="auto",
                 choices=("auto", "cpu", "cuda")),
)


def resolve(namespace) -> object:
    """``PARAMETERS.resolve`` plus the alpha list and the real track's ids (all four or none)."""
    P = PARAMETERS.resolve(namespace)
    P.alpha_values = sorted(set(number_list("alphas", P.alphas, float, 0.0, 10.0)))
    real = [P.real_large, P.real_direct, P.real_small, P.real_expert]
    if len({r == REAL_NONE for r in real}) != 1:
        raise ValueError("parameters 'real_large', 'real_direct', 'real_small', 'real_expert' must all be hub ids "
                         f"or all {REAL_NONE!r}; allowed: four owner/name ids of one family, or none")
    P.real = real[0] != REAL_NONE
    if P.real:
        for name, value in zip(("real_large", "real_direct", "real_small", "real_expert"), real):
            if "/" not in value:
                raise ValueError(f"parameter {name!r} got {value!r}; allowed: a hub id owner/name, or none")
    return P
