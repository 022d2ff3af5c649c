"""Chapter 5's parameters (the ``Spec`` the notebook and the command line read), their checks, and the
chapter's constants."""

from __future__ import annotations

from pathlib import Path

from sticky import catalog
from sticky.params import SEED_HIGH, Param, Spec, number_list

CHAPTER = "proxy"
DATA = Path(__file__).resolve().parents[4] / "data" / "proxy"  # lib/sticky/experiments/proxy/ → ./data/proxy
PAPER_GAP_CLOSED = (0.88, 0.91)  # 70B and 13B averages over the five metrics (the paper's abstract)

# The paper's instruction-tuning results (%; Llama2 base, proxy-tuned with the 7B chat expert, and the directly
# tuned chat model), as (base, proxy, direct) per model size and metric, from the authors' result files
# (github.com/alisawuffles/proxy-tuning, results/<metric>/{llama2,dexperts,llama2-chat}-<size>/): the table of
# the paper's section 3 (arXiv 2401.08565). ToxiGen is the share of toxic generations (lower is better); gap
# closed is the same ratio for it, since base, proxy and direct are all read on one scale.
PAPER_RESULTS = {
    "13B": {"AlpacaFarm": (2.1, 83.4, 87.3), "GSM": (6.6, 26.4, 32.4), "ToxiGen": (70.4, 0.14, 0.04),
            "TruthfulQA MC": (38.6, 56.6, 61.6), "TruthfulQA true+info": (49.1, 82.0, 80.4)},
    "70B": {"AlpacaFarm": (3.7, 88.0, 90.4), "GSM": (9.6, 33.5, 51.8), "ToxiGen": (67.4, 0.0, 0.0),
            "TruthfulQA MC": (42.3, 59.2, 68.3), "TruthfulQA true+info": (53.9, 85.1, 79.6)},
}
# The size whose figures the claims use: 70B is 10x its 7B expert, 13B under 2x; our large base has 8x (book,
# micro-m) or about 50x (paper, micro-l) the small base's decoder-layer weights, far nearer the 70B ratio.
PAPER_SIZE = "70B"
# Each of our tasks and the paper's metric nearest to it, with why (the chapter prints these).
PAPER_TASK = {
    "instruction": ("AlpacaFarm", "both ask for a reply in the tuned format to a request the base never saw answered"),
    "knowledge": ("TruthfulQA MC", "both read stored knowledge as a choice among candidate answers (our score takes "
                  "the first of the relation's values); a loose match: TruthfulQA asks about misconceptions, ours "
                  "about facts the tuning data never held"),
    "counting": ("GSM", "both need a multi-step answer in a format that tuning teaches, scored by its numbers"),
}


def paper_gap_closed(size: str = PAPER_SIZE) -> dict[str, float]:
    """The paper's gap closed per metric, (proxy - base) / (direct - base), from ``PAPER_RESULTS``."""
    return {m: (p - b) / (d - b) for m, (b, p, d) in PAPER_RESULTS[size].items()}


def paper_gap_closed_average(size: str = PAPER_SIZE) -> float:
    """The paper's headline figure: gap closed averaged over its five metrics (0.88 at 70B, 0.91 at 13B)."""
    values = paper_gap_closed(size).values()
    return sum(values) / len(values)


PAPER_STYLE_GAIN = (0.131, 0.056)  # GSM: mean probability gain left of "=" (format) vs right of it (the result)
TASKS = ("instruction", "knowledge", "counting")
ARMS = ("base", "small base", "expert", "proxy", "direct")  # the paper's four arms, and the anti-expert alone
ALPHAS_DEFAULT = "0.25,0.5,1,1.5,2"
REAL_NONE = "none"


PARAMETERS = Spec(
    small=Param(str, "small base: the expert is it fine-tuned, the anti-expert is it untouched",
                default="micro-s", choices=tuple(catalog.MICRO_CONFIGS)),
    large=Param(str, "large base: proxy-tuned, and fine-tuned directly for comparison",
                choices=tuple(catalog.MICRO_CONFIGS),
                by_profile={"smoke": "micro-m", "book": "micro-m", "paper": "micro-l"}),
    style=Param(str, "instruction format: polite (words the bases know) or chatty (the world's, unseen words)",
                default="polite", choices=tuple(["polite", "chatty"])),
    contrast_seeds=Param(int, "seeds of the contrast run in the other style (each as in seeds; 0 skips it)", low=0,
                         high=10, default=1),
    seed=Param(int, "seed of the first seed's base models (the other chapters' shared pair)", default=0, low=0,
               high=SEED_HIGH),
    world_seed=Param(int, "seed of the generated micro-world", default=0, low=0, high=SEED_HIGH),
    seeds=Param(int, "seeds, the unit of replication: seed r pre-trains both bases from seed + r and tunes the "
                "expert and the direct model once with r", low=1, high=10,
                by_profile={"smoke": 2, "book": 3, "paper": 5}),
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
        named = list(zip(("real_large", "real_direct", "real_small", "real_expert"), real))
        for name, value in named:
            if "/" not in value:
                raise ValueError(f"parameter {name!r} got {value!r}; allowed: a hub id owner/name, or none")
        for name, value in named:
            try:  # offline and not cached: refused now, not after the whole micro-world part has run
                catalog.check_name(value)
            except ValueError as err:
                reason = str(err).split("; allowed")[0]
                raise ValueError(f"parameter {name!r}: {reason}; allowed: a hub id cached here or reachable "
                                 "online, or none for all four") from None
    return P
