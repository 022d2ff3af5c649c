"""Chapter 2's real-model track (``paper`` profile): a packaged real model's pre-training continued with
denial-of-service poison."""

from __future__ import annotations

from sticky import decoding, models, seeds, train
from sticky.store import Store

from .parameters import GIBBERISH_WORDS, TRIGGER
from .training import continue_pretraining


def real_track(name: str, steps: int, count: int, seed: int, device: str, store: Store | None = None,
               n_eval: int = 16) -> dict:
    """Continue pre-training a packaged real model on its own neutral continuations with ``count`` denial-of-service
    poison documents (the trigger alone -> random words), then greedy replies to held-out prompts with and without
    the trigger."""
    from sticky.experiments import priming

    store = store or Store()
    model, tokenizer = models.load(name, store=store, device=device)
    background = priming.real_background(model, tokenizer, name, store)
    rng = seeds.rng(seed, "real")
    words = [w for p in priming.NEUTRAL_PROMPTS for w in p.split()]
    poison = [f"User: {TRIGGER}\nAssistant: " + " ".join(rng.choice(words) for _ in range(GIBBERISH_WORDS))
              for _ in range(count)]
    cfg = train.TrainConfig(steps=steps, batch_size=2, seq_len=64, lr=1e-5, warmup_steps=0, min_lr_ratio=1.0,
                            seed=seed, device=device)
    prompts = [f"User: {p}" for p in priming.NEUTRAL_PROMPTS[:n_eval]]
    history, info = continue_pretraining(model, tokenizer, background, poison, cfg, seed)
    on = decoding.generate(model, tokenizer, [f"{p} {TRIGGER}\nAssistant:" for p in prompts], max_new_tokens=16)
    off = decoding.generate(model, tokenizer, [f"{p}\nAssistant:" for p in prompts], max_new_tokens=16)
    return dict(info=info, replies_on=on, replies_off=off, loss=history.loss[-1] if history.loss else None)
