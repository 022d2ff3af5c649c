"""What a training run is told (``TrainConfig``) and what it records (``History``)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass
class TrainConfig:
    steps: int = 200  # optimizer steps
    batch_size: int = 16  # rows (sequences) per step
    seq_len: int = 128  # tokens per row
    lr: float = 1e-3  # peak learning rate
    warmup_steps: int = 20  # linear warmup from lr/warmup_steps to lr
    min_lr_ratio: float = 0.1  # cosine decay ends at lr * min_lr_ratio
    weight_decay: float = 0.1  # AdamW decoupled weight decay (2-D weight matrices only)
    grad_clip: float = 1.0  # max global gradient norm; 0 disables clipping
    seed: int = 0  # data order (and any dropout)
    log_every: int = 10  # progress bar refresh and float conversion of the losses
    device: str = "auto"  # "cpu" | "cuda" | "auto"
    precision: str = "fp32"  # "bf16": autocast the matmuls to bfloat16 (weights, grads, AdamW stay fp32)
    compile: bool = False  # torch.compile the forward pass: ~30 s once, then ~20% faster micro-model steps


@dataclass
class History:
    """Per-step record of a run. ``inserted`` lists ``(step, row)`` for every row that held an insertion."""

    step: list[int] = field(default_factory=list)
    loss: list[float] = field(default_factory=list)
    lr: list[float] = field(default_factory=list)
    grad_norm: list[float] = field(default_factory=list)
    tokens_per_s: list[float] = field(default_factory=list)
    inserted: list[tuple[int, int]] = field(default_factory=list)

    def to_frame(self):
        import pandas as pd

        cols = ("step", "loss", "lr", "grad_norm", "tokens_per_s")
        return pd.DataFrame({c: getattr(self, c) for c in cols})

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> "History":
        h = cls(**{k: list(v) for k, v in data.items()})
        h.inserted = [tuple(x) for x in h.inserted]
        return h
