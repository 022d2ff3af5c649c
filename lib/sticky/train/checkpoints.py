"""Checkpoints: safetensors (weights, AdamW moments, RNG state) + JSON (step, history); nothing is pickled."""

from __future__ import annotations

import json
import os
import shutil
import struct
import sys
import tempfile
from pathlib import Path

import torch
from safetensors.torch import load_file, load_model, save_file, save_model

from sticky.train.config import History


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
        for path in tmp.iterdir():  # on disk before the rename makes the checkpoint look complete
            with open(path, "rb") as f:
                os.fsync(f.fileno())
        if final.exists():
            shutil.rmtree(final)
        os.rename(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final


def _safetensors_whole(path: Path) -> bool:
    """Whether ``path`` is a safetensors file as long as its own header says (8-byte header length, JSON
    header, then the tensors up to the largest end offset): a truncated or overwritten file is not."""
    try:
        size = path.stat().st_size
        with open(path, "rb") as f:
            (n,) = struct.unpack("<Q", f.read(8))
            if n > size - 8:
                return False
            header = json.loads(f.read(n))
        end = max((t["data_offsets"][1] for k, t in header.items() if k != "__metadata__"), default=0)
        return size == 8 + n + end
    except (OSError, ValueError, struct.error, KeyError, TypeError, IndexError):
        return False


def checkpoint_whole(folder: Path) -> bool:
    """Whether a checkpoint folder has its three files, intact."""
    try:
        json.loads((folder / "state.json").read_text())["step"]
    except (OSError, ValueError, KeyError, TypeError):
        return False
    return all(_safetensors_whole(folder / name) for name in ("model.safetensors", "optimizer.safetensors"))


def latest_checkpoint(folder: str | Path) -> Path | None:
    """The intact checkpoint with the highest step in ``folder``. A damaged one (a file truncated or lost after
    its rename, say by a full disk) is removed with a one-line warning and the one before it is used, so it
    never blocks its model's training for good."""
    folder = Path(folder)
    for path in sorted(folder.glob("step-*"), reverse=True) if folder.exists() else []:
        if checkpoint_whole(path):
            return path
        print(f"sticky: warning: checkpoint {path} is damaged; removed, resuming from the one before it",
              file=sys.stderr)
        shutil.rmtree(path, ignore_errors=True)
    return None


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
