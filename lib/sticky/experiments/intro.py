"""Chapter 0: the environment a reader's run happened in, and which model tracks work offline."""

from __future__ import annotations

import importlib.metadata
import os
import platform

import pandas as pd

from sticky import models
from sticky.params import Spec

PARAMETERS = Spec()  # the intro has only ``profile``; it sets nothing yet but is kept for uniformity

PACKAGES = ("torch", "transformers", "tokenizers", "datasets", "peft", "papermill", "jupyter-book", "altair")


def environment() -> pd.DataFrame:
    """Python, the key packages' versions, the CPU and whether CUDA is present."""
    import torch

    rows = [("python", platform.python_version()), ("machine", f"{platform.machine()}, {os.cpu_count()} CPUs")]
    rows += [(name, importlib.metadata.version(name)) for name in PACKAGES]
    cuda = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none"
    rows += [("torch threads", str(torch.get_num_threads())), ("CUDA device", cuda)]
    return pd.DataFrame(rows, columns=["component", "version"]).set_index("component")


def model_tracks() -> pd.DataFrame:
    """Each model track and whether it can run here without a network."""
    rows = [
        ("micro-world", ", ".join(models.MICRO_CONFIGS), True, "generated and trained here from a seed"),
    ]
    for name, pkg in models.PACKAGED.items():
        rows.append(("packaged real", name, models.packaged_available(name), f"PyPI package {pkg.distribution}"))
    rows.append(("hub id", "any, e.g. EleutherAI/pythia-410m", False, "needs network (or a filled HF cache)"))
    return pd.DataFrame(rows, columns=["track", "models", "offline", "source"])
