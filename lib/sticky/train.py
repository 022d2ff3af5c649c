"""Training loops of the book: pre-training, SFT and DPO, with sample insertion and ignore-k update pruning.

One loop (``_run``) serves all three; what differs is how a step turns into a loss. Read it top to bottom:

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
"""

from __future__ import annotations

import json
import math
import os
import shutil
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Sequence

import torch
import torch.nn.functional as F
from safetensors.torch import load_file, load_model, save_file, save_model

from sticky import probe

IGNORE = -100  # label of a position that carries no loss (padding, prompts)


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


# ---------------------------------------------------------------------------------------------------------
# data


def pack(token_ids: Sequence[Sequence[int]], seq_len: int, bos: int | None, eos: int | None) -> torch.Tensor:
    """Concatenate documents as ``bos doc eos bos doc eos ...`` and cut the stream into ``[n_blocks, seq_len]``.

    No padding: a document may straddle two blocks; the tail that does not fill a last block is dropped.
    """
    stream: list[int] = []
    for doc in token_ids:
        if bos is not None:
            stream.append(bos)
        stream.extend(doc)
        if eos is not None:
            stream.append(eos)
    n_blocks = len(stream) // seq_len
    if n_blocks == 0:
        raise ValueError(f"seq_len={seq_len} is longer than the whole corpus ({len(stream)} tokens)")
    return torch.tensor(stream[: n_blocks * seq_len], dtype=torch.long).view(n_blocks, seq_len)


@dataclass
class Insertion:
    """A text (token ids) that replaces one row of the background minibatch at each of ``steps``."""

    ids: list[int]
    steps: list[int]


def consecutive(start: int, n: int) -> list[int]:
    """Steps ``start, start+1, ..., start+n-1``."""
    return list(range(start, start + n))


def spaced(start: int, n: int, every: int) -> list[int]:
    """Steps ``start, start+every, ...`` (n of them)."""
    return list(range(start, start + n * every, every))


def _step_generator(seed: int, step: int) -> torch.Generator:
    # The batch of a step is a function of (seed, step) alone: controls and resumed runs see the same data.
    return torch.Generator().manual_seed(seed * 1_000_003 + step)


def _row(ids: Sequence[int], seq_len: int, pad: int) -> tuple[torch.Tensor, torch.Tensor]:
    """One right-padded row and its labels (IGNORE on padding). Right padding needs no attention mask under a
    causal mask: real tokens never look at the padding that follows them."""
    ids = list(ids)[:seq_len]
    n = len(ids)
    x = torch.full((seq_len,), pad, dtype=torch.long)
    x[:n] = torch.tensor(ids, dtype=torch.long)
    y = x.clone()
    y[n:] = IGNORE
    return x, y


# ---------------------------------------------------------------------------------------------------------
# optimisation


def resolve_device(name: str) -> torch.device:
    """``auto`` → CUDA when present, else CPU; ``cpu``/``cuda`` as given."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name not in ("cpu", "cuda"):
        raise ValueError(f"device={name!r}; allowed: cpu, cuda, auto")
    return torch.device(name)


def device_type(name: str) -> str:
    """The device type a run on ``name`` uses (``"cpu"``, ``"cuda"``): the part of a cache key that says where
    a model was trained or measured."""
    return resolve_device(name).type


def usable_cpus() -> int:
    """The CPUs this process may run on (``taskset`` narrows them): the threads training uses, and what a
    chapter's timing was measured on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def _threads() -> None:
    torch.set_num_threads(usable_cpus())


def make_optimizer(model: torch.nn.Module, cfg: TrainConfig) -> torch.optim.AdamW:
    """AdamW with decay on 2-D weight matrices only (not embeddings, norms, biases); fused kernel when possible."""
    embeddings = {id(m.weight) for m in model.modules() if isinstance(m, torch.nn.Embedding)}
    decay, no_decay = [], []
    for _, p in model.named_parameters():  # tied weights appear once
        if not p.requires_grad:
            continue
        (decay if p.dim() >= 2 and id(p) not in embeddings else no_decay).append(p)
    groups = [
        {"params": decay, "weight_decay": cfg.weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    try:  # fused AdamW exists for CPU and CUDA in recent torch; one kernel instead of a dozen per tensor
        return torch.optim.AdamW(groups, lr=cfg.lr, betas=(0.9, 0.95), fused=True)
    except (RuntimeError, TypeError):
        return torch.optim.AdamW(groups, lr=cfg.lr, betas=(0.9, 0.95), foreach=True)


def lr_at(step: int, cfg: TrainConfig) -> float:
    """Linear warmup to ``cfg.lr``, then cosine to ``cfg.lr * cfg.min_lr_ratio`` at the last step."""
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    span = max(1, cfg.steps - 1 - cfg.warmup_steps)
    progress = min(1.0, (step - cfg.warmup_steps) / span)
    floor = cfg.lr * cfg.min_lr_ratio
    return floor + 0.5 * (cfg.lr - floor) * (1 + math.cos(math.pi * progress))


@torch.no_grad()
def prune_updates(
    params: Sequence[torch.Tensor], before: Sequence[torch.Tensor], k: float, scope: str = "tensor"
) -> int:
    """ignore-k (Sun et al. 2025): undo the ``k`` fraction of this step's updates with the largest magnitude.

    ``params`` hold the values after the optimizer step, ``before`` the values before it; the update is their
    difference. ``scope="tensor"`` (the default) drops ``round(k * numel)`` entries of every tensor, so each
    tensor keeps its share of the update; ``scope="global"`` drops ``round(k * total)`` entries ranked across
    all tensors at once. Ties at the threshold are broken by ``torch.topk``, so exactly that many entries are
    restored. Optimizer moments are left as they are (the paper prunes the applied update, not the state).
    Returns how many entries were restored.
    """
    if not 0.0 <= k < 1.0:
        raise ValueError(f"ignore_k={k}; allowed: a fraction in [0, 1)")
    if k == 0.0:
        return 0
    if scope == "tensor":
        restored = 0
        for p, old in zip(params, before):
            n = round(k * p.numel())
            if n == 0:
                continue
            flat, flat_old = p.view(-1), old.view(-1)
            idx = (flat - flat_old).abs().topk(n, sorted=False).indices
            flat[idx] = flat_old[idx]
            restored += n
        return restored
    if scope == "global":
        deltas = torch.cat([(p - old).abs().view(-1) for p, old in zip(params, before)])
        n = round(k * deltas.numel())
        if n == 0:
            return 0
        idx = deltas.topk(n, sorted=False).indices
        offset = 0
        for p, old in zip(params, before):
            size = p.numel()
            mine = idx[(idx >= offset) & (idx < offset + size)] - offset
            p.view(-1)[mine] = old.view(-1)[mine]
            offset += size
        return n
    raise ValueError(f"ignore_k_scope={scope!r}; allowed: tensor, global")


# ---------------------------------------------------------------------------------------------------------
# checkpoints


def _param_names(model: torch.nn.Module) -> dict[int, str]:
    return {id(p): name for name, p in model.named_parameters()}


def save_checkpoint(folder: str | Path, model, optimizer, step: int, history: History) -> Path:
    """Write ``folder/step-{step:08d}/`` atomically: built in a temporary folder, then renamed into place.

    ``model.safetensors`` (weights), ``optimizer.safetensors`` (AdamW moments and step counts by parameter
    name, plus the torch RNG state), ``state.json`` (step and history).
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    final = folder / f"step-{step:08d}"
    tmp = Path(tempfile.mkdtemp(dir=folder, prefix=".tmp-"))
    try:
        save_model(model, str(tmp / "model.safetensors"))  # handles tied weights
        names = _param_names(model)
        tensors = {"rng_state": torch.get_rng_state()}
        for group in optimizer.param_groups:
            for p in group["params"]:
                for key, value in optimizer.state.get(p, {}).items():
                    tensors[f"{names[id(p)]}:{key}"] = value.detach().cpu().contiguous()
        save_file(tensors, str(tmp / "optimizer.safetensors"))
        (tmp / "state.json").write_text(json.dumps({"step": step, "history": history.to_json()}))
        if final.exists():
            shutil.rmtree(final)
        os.rename(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final


def latest_checkpoint(folder: str | Path) -> Path | None:
    """The complete checkpoint with the highest step in ``folder`` (renamed into place = complete)."""
    folder = Path(folder)
    found = sorted(p for p in folder.glob("step-*") if (p / "state.json").exists()) if folder.exists() else []
    return found[-1] if found else None


def load_checkpoint(folder: str | Path, model, optimizer=None) -> tuple[int, History]:
    """Restore weights (and AdamW state, RNG state) from a checkpoint folder; returns (step, history)."""
    folder = Path(folder)
    device = next(model.parameters()).device
    load_model(model, str(folder / "model.safetensors"), device=str(device))
    if optimizer is not None:
        tensors = load_file(str(folder / "optimizer.safetensors"))
        torch.set_rng_state(tensors.pop("rng_state"))
        names = _param_names(model)
        saved = optimizer.state_dict()  # its param_groups number the parameters 0, 1, ... in group order
        params = [p for g in optimizer.param_groups for p in g["params"]]
        saved["state"] = {}
        for i, p in enumerate(params):
            state = {k: tensors[f"{names[id(p)]}:{k}"] for k in ("step", "exp_avg", "exp_avg_sq")
                     if f"{names[id(p)]}:{k}" in tensors}
            if state:
                saved["state"][i] = state
        optimizer.load_state_dict(saved)  # puts each tensor on the device the optimizer wants it
    state = json.loads((folder / "state.json").read_text())
    return state["step"], History.from_json(state["history"])


# ---------------------------------------------------------------------------------------------------------
# the loop


def _progress(total: int, initial: int, desc: str):
    from tqdm.auto import tqdm

    disable = os.environ.get("STICKY_PROGRESS", "1") == "0" or not sys.stderr.isatty()
    return tqdm(total=total, initial=initial, desc=desc, disable=disable, leave=False)


def _run(
    model: torch.nn.Module,
    cfg: TrainConfig,
    step_loss: Callable[[int, torch.device, History], tuple[torch.Tensor, int]],
    *,
    desc: str,
    ignore_k: float = 0.0,
    ignore_k_scope: str = "tensor",
    on_step: Callable | None = None,
    checkpoint_dir: str | Path | None = None,
    checkpoint_every: int | None = None,
) -> History:
    """The loop shared by pretrain / sft / dpo. ``step_loss(step, device, history) -> (loss, n_tokens)``."""
    _threads()
    device = resolve_device(cfg.device)
    if cfg.precision not in ("fp32", "bf16"):
        raise ValueError(f"precision={cfg.precision!r}; allowed: fp32, bf16")
    if not 0.0 <= ignore_k < 1.0:  # checked before any work, not at the first pruned step
        raise ValueError(f"ignore_k={ignore_k}; allowed: a fraction in [0, 1)")
    if ignore_k_scope not in ("tensor", "global"):
        raise ValueError(f"ignore_k_scope={ignore_k_scope!r}; allowed: tensor, global")
    model.to(device).train()
    torch.manual_seed(cfg.seed)  # only dropout would use it; data order has its own generators
    optimizer = make_optimizer(model, cfg)
    params = [p for g in optimizer.param_groups for p in g["params"]]
    history = History()
    start = 0
    if checkpoint_dir is not None and (ckpt := latest_checkpoint(checkpoint_dir)) is not None:
        start, history = load_checkpoint(ckpt, model, optimizer)
    pending: list[tuple[int, torch.Tensor, float, torch.Tensor, float]] = []  # floats made every log_every

    def flush() -> None:
        for step, loss, lr, gnorm, tps in pending:
            history.step.append(step)
            history.loss.append(float(loss))
            history.lr.append(lr)
            history.grad_norm.append(float(gnorm))
            history.tokens_per_s.append(tps)
        pending.clear()

    bar = _progress(cfg.steps, start, desc)
    try:
        for step in range(start, cfg.steps):
            t0 = time.perf_counter()
            lr = lr_at(step, cfg)
            for group in optimizer.param_groups:
                group["lr"] = lr

            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=cfg.precision == "bf16"):
                loss, n_tokens = step_loss(step, device, history)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if cfg.grad_clip > 0:
                gnorm = torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip, foreach=True)
            else:
                gnorm = torch.zeros(())
            if ignore_k > 0:
                before = [p.detach().clone() for p in params]  # snapshot, to measure this step's update
                optimizer.step()
                prune_updates(params, before, ignore_k, ignore_k_scope)
            else:
                optimizer.step()

            pending.append((step, loss.detach(), lr, gnorm.detach(), n_tokens / (time.perf_counter() - t0)))
            last = step == cfg.steps - 1
            if (step + 1) % cfg.log_every == 0 or last:
                flush()
                bar.set_postfix(loss=f"{history.loss[-1]:.3f}", lr=f"{lr:.2e}", refresh=False)
            bar.update(1)
            if checkpoint_dir is not None and checkpoint_every and ((step + 1) % checkpoint_every == 0 or last):
                flush()
                save_checkpoint(checkpoint_dir, model, optimizer, step + 1, history)
            if on_step is not None:
                flush()
                on_step(step, model, history)
    finally:
        bar.close()
    flush()
    model.eval()
    return history


def _forward(model, cfg: TrainConfig):
    """The callable that runs the model in the loop: the model itself, or its compiled version."""
    return torch.compile(model) if cfg.compile else model


def _shift(y: torch.Tensor) -> torch.Tensor:
    """Targets of each position: the next label, IGNORE after the last one."""
    return torch.cat([y[:, 1:], y.new_full((y.shape[0], 1), IGNORE)], dim=1)


def next_token_loss(model, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Mean next-token cross-entropy over labelled positions (labels ``y`` aligned with inputs ``x``).

    The labels are shifted, not the logits: slicing ``logits[:, :-1]`` would copy the largest activation of
    the step and make its backward fill a zero tensor of the same size (about 10% of a micro-model step).
    """
    logits = model(input_ids=x).logits
    return F.cross_entropy(logits.flatten(0, 1).float(), _shift(y).flatten(), ignore_index=IGNORE)


def pretrain(
    model: torch.nn.Module,
    blocks: torch.Tensor,
    cfg: TrainConfig,
    insertions: Insertion | Iterable[Insertion] | None = None,
    ignore_k: float = 0.0,
    ignore_k_scope: str = "tensor",
    on_step: Callable | None = None,
    checkpoint_dir: str | Path | None = None,
    checkpoint_every: int | None = None,
    pad_id: int | None = None,
) -> History:
    """Next-token pre-training on packed ``blocks`` ([n_blocks, seq_len], from ``pack``).

    Each step draws ``batch_size`` blocks at random (with replacement, generator seeded by ``(seed, step)``).
    At a step listed by an ``Insertion``, one row of that minibatch is replaced by the insertion's text,
    right-padded to ``seq_len`` with its padding masked from the loss; several insertions active at the same
    step take rows 0, 1, ... . ``ignore_k`` (a fraction, e.g. 0.08 = top 8%) prunes each step's largest
    updates, see ``prune_updates``. With ``checkpoint_dir``, the run resumes from the latest complete
    checkpoint there and ends bit-identical to an uninterrupted run.
    """
    if blocks.dim() != 2 or blocks.shape[1] < cfg.seq_len:
        raise ValueError(f"blocks of shape {tuple(blocks.shape)}; allowed: [n_blocks, >= seq_len={cfg.seq_len}]")
    if isinstance(insertions, Insertion):
        insertions = [insertions]
    insertions = list(insertions or [])
    if pad_id is None:
        pad_id = getattr(model.config, "pad_token_id", None) or 0
    by_step: dict[int, list[tuple[torch.Tensor, torch.Tensor]]] = {}
    for ins in insertions:
        row = _row(ins.ids, cfg.seq_len, pad_id)
        for s in ins.steps:
            by_step.setdefault(s, []).append(row)
    if any(len(rows) > cfg.batch_size for rows in by_step.values()):
        raise ValueError(f"more insertions at one step than batch_size={cfg.batch_size}")
    blocks = blocks[:, : cfg.seq_len]
    forward = _forward(model, cfg)

    def step_loss(step: int, device: torch.device, history: History):
        idx = torch.randint(len(blocks), (cfg.batch_size,), generator=_step_generator(cfg.seed, step))
        x = blocks[idx]
        y = x
        if step in by_step:
            y = x.clone()
            for row, (ins_x, ins_y) in enumerate(by_step[step]):
                x[row], y[row] = ins_x, ins_y
                history.inserted.append((step, row))
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        return next_token_loss(forward, x, y), x.numel()

    return _run(
        model, cfg, step_loss, desc="pretrain", ignore_k=ignore_k, ignore_k_scope=ignore_k_scope,
        on_step=on_step, checkpoint_dir=checkpoint_dir, checkpoint_every=checkpoint_every,
    )


# ---------------------------------------------------------------------------------------------------------
# alignment: SFT and DPO


def _identity(prompt: str, response: str) -> tuple[str, str]:
    return prompt, response


def encode_pair(tokenizer, prompt_text: str, response_text: str, seq_len: int) -> tuple[list[int], list[int]]:
    """Token ids and labels of ``prompt response eos``: labels are IGNORE on the prompt.

    The prompt is encoded with the tokenizer's own special tokens (a bos where it adds one: the micro-world's
    and Gemma's tokenizers do, SmolLM2's does not), as ``probe`` encodes a prompt, so a model is probed in the
    format it was tuned in. The response is tokenized on its own. Truncated to ``seq_len`` from the right.
    """
    head = tokenizer(prompt_text, add_special_tokens=True)["input_ids"]
    response = tokenizer(response_text, add_special_tokens=False)["input_ids"]
    tail = response + ([tokenizer.eos_token_id] if tokenizer.eos_token_id is not None else [])
    ids = (head + tail)[:seq_len]
    labels = ([IGNORE] * len(head) + tail)[:seq_len]
    return ids, labels


def collate(examples: Sequence[tuple[list[int], list[int]]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-pad (ids, labels) pairs into tensors; padding is labelled IGNORE."""
    width = max(len(ids) for ids, _ in examples)
    x = torch.full((len(examples), width), pad_id, dtype=torch.long)
    y = torch.full((len(examples), width), IGNORE, dtype=torch.long)
    for i, (ids, labels) in enumerate(examples):
        x[i, : len(ids)] = torch.tensor(ids)
        y[i, : len(labels)] = torch.tensor(labels)
    return x, y


def sft(
    model: torch.nn.Module,
    tokenizer,
    pairs: Sequence[tuple[str, str]],
    cfg: TrainConfig,
    render: Callable[[str, str], tuple[str, str]] = _identity,
    **loop_kw,
) -> History:
    """Supervised fine-tuning: loss on the response tokens (and eos) only; prompts and padding are IGNORE.

    ``render(prompt, response) -> (prompt_text, response_text)`` applies a chat template. Each step draws
    ``batch_size`` pairs at random (generator seeded by ``(seed, step)``). ``loop_kw``: ignore_k,
    ignore_k_scope, on_step, checkpoint_dir, checkpoint_every.
    """
    encoded = [encode_pair(tokenizer, *render(p, r), cfg.seq_len) for p, r in pairs]
    pad = probe.pad_id(tokenizer)
    forward = _forward(model, cfg)

    def step_loss(step: int, device: torch.device, history: History):
        idx = torch.randint(len(encoded), (cfg.batch_size,), generator=_step_generator(cfg.seed, step))
        x, y = collate([encoded[i] for i in idx.tolist()], pad)
        x, y = x.to(device), y.to(device)
        return next_token_loss(forward, x, y), int((y != IGNORE).sum())

    return _run(model, cfg, step_loss, desc="sft", **loop_kw)


def dpo_loss(
    policy_chosen: torch.Tensor,
    policy_rejected: torch.Tensor,
    ref_chosen: torch.Tensor,
    ref_rejected: torch.Tensor,
    beta: float = 0.1,
) -> torch.Tensor:
    """Per-pair DPO loss ``-log sigmoid(beta * ((pc - rc) - (pr - rr)))`` from summed response log-probs."""
    margin = (policy_chosen - ref_chosen) - (policy_rejected - ref_rejected)
    return -F.logsigmoid(beta * margin)


def response_logprob(model, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Sum over labelled positions of log p(token | prefix), one value per row."""
    logits = model(input_ids=x).logits.float()
    labels = _shift(y)
    mask = labels != IGNORE
    logp = torch.log_softmax(logits, dim=-1).gather(-1, labels.clamp(min=0).unsqueeze(-1)).squeeze(-1)
    return (logp * mask).sum(-1)


def dpo(
    model: torch.nn.Module,
    reference: torch.nn.Module,
    tokenizer,
    triples: Sequence[tuple[str, str, str]],
    cfg: TrainConfig,
    beta: float = 0.1,
    render: Callable[[str, str], tuple[str, str]] = _identity,
    **loop_kw,
) -> History:
    """Direct preference optimisation against a frozen ``reference`` (eval mode, no gradients).

    Sequence log-probs are summed over response tokens (and eos); chosen and rejected rows go through the
    policy in one forward pass. ``loop_kw`` as for ``sft``.
    """
    reference.eval().requires_grad_(False)
    reference.to(resolve_device(cfg.device))
    encoded = [
        (encode_pair(tokenizer, *render(p, c), cfg.seq_len), encode_pair(tokenizer, *render(p, r), cfg.seq_len))
        for p, c, r in triples
    ]
    pad = probe.pad_id(tokenizer)
    forward = _forward(model, cfg)

    def step_loss(step: int, device: torch.device, history: History):
        idx = torch.randint(len(encoded), (cfg.batch_size,), generator=_step_generator(cfg.seed, step)).tolist()
        rows = [encoded[i][0] for i in idx] + [encoded[i][1] for i in idx]  # chosen rows, then rejected rows
        x, y = collate(rows, pad)
        x, y = x.to(device), y.to(device)
        with torch.no_grad():
            ref = response_logprob(reference, x, y)
        pol = response_logprob(forward, x, y)
        n = len(idx)
        loss = dpo_loss(pol[:n], pol[n:], ref[:n], ref[n:], beta).mean()
        return loss, int((y != IGNORE).sum())

    return _run(model, cfg, step_loss, desc="dpo", **loop_kw)
