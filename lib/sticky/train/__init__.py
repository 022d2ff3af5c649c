"""Training loops of the book: pre-training, SFT and DPO, with sample insertion and ignore-k update pruning.

One loop (``_run``, in ``loop``) serves all three; what differs is how a step turns into a loss. Read it top to bottom:

    for step in range(start, cfg.steps):
        set the learning rate (linear warmup, then cosine down to ``min_lr_ratio * lr``)
        loss = the step's loss (a batch drawn by a generator seeded from (cfg.seed, step))
        backward, clip the gradient norm, AdamW step
        optionally undo the largest ignore-k% of this step's parameter updates
        record loss / lr / grad norm / tokens per second; checkpoint every ``checkpoint_every`` steps

Design choices, each for a reason:

- The batch of step ``t`` depends on ``(cfg.seed, t)`` only, not on what came before. A run with insertions and
  its background-only control therefore see the very same background minibatches, and a resumed run sees the
  batches the uninterrupted run would have seen.
- Weight decay applies to the 2-D weight matrices of attention and MLP only; embeddings (tied to the output
  layer in the micro-world models), norm weights and biases are not decayed (nanoGPT does the same for norms
  and biases; decaying a tied embedding pulls every rare word's vector to zero between its rare gradients).
- Losses are kept as tensors during the run and turned into Python floats every ``log_every`` steps, so the
  hot path never waits on a ``.item()``.
- Checkpoints are safetensors (weights, AdamW moments, RNG state) + JSON (step, history); nothing is pickled.

The package, one module per part of a run (``from sticky import train`` reaches every public name below):

- ``config``: ``TrainConfig`` (what a run is told) and ``History`` (what it records);
- ``data``: ``pack``, ``Insertion`` and its schedules (``consecutive``, ``spaced``), the batch generator of a step;
- ``optim``: device and threads, AdamW and its decay groups, the learning-rate schedule, ignore-k pruning;
- ``checkpoints``: save, find and load a checkpoint a run resumes from;
- ``loop``: the loop, the next-token loss, and ``pretrain``;
- ``alignment``: ``sft`` and ``dpo``, with their prompt/response encoding and the DPO loss.

To spy on the loss that pre-training computes, patch ``sticky.train.loop.next_token_loss`` (the name
``pretrain`` looks up), not ``train.next_token_loss``; ``sft`` looks it up in ``sticky.train.alignment``.
"""

from sticky.train.alignment import collate, dpo, dpo_loss, encode_pair, response_logprob, sft
from sticky.train.checkpoints import latest_checkpoint, load_checkpoint, save_checkpoint
from sticky.train.config import History, TrainConfig
from sticky.train.data import IGNORE, Insertion, consecutive, pack, spaced
from sticky.train.loop import next_token_loss, pretrain
from sticky.train.optim import device_type, lr_at, make_optimizer, prune_updates, resolve_device, usable_cpus

__all__ = [
    "TrainConfig", "History",
    "IGNORE", "pack", "Insertion", "consecutive", "spaced",
    "resolve_device", "device_type", "usable_cpus", "make_optimizer", "lr_at", "prune_updates",
    "save_checkpoint", "latest_checkpoint", "load_checkpoint",
    "next_token_loss", "pretrain",
    "encode_pair", "collate", "sft", "dpo_loss", "response_logprob", "dpo",
]
