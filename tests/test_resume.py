"""A pre-training run killed after its first checkpoint resumes from it and ends bit-identical to an
uninterrupted run; nothing partial is ever read as a finished model."""

import os
import signal
import subprocess
import sys
import time

import torch

from sticky import models
from sticky.store import Store

STEPS = 40  # micro() checkpoints every STEPS // 4 steps
TRAIN = (
    "import sys; from sticky import models; from sticky.store import Store; "
    f"models.micro('micro-s', profile='smoke', steps={STEPS}, store=Store(sys.argv[1]))"
)


def test_killed_pretraining_resumes_to_the_same_model(tmp_path):
    killed_root, straight_root = tmp_path / "killed", tmp_path / "straight"
    env = {**os.environ, "STICKY_PROGRESS": "0"}
    proc = subprocess.Popen([sys.executable, "-c", TRAIN, str(killed_root)], env=env)
    deadline = time.time() + 120
    while not list(killed_root.glob("pretrained/.work-*/step-*")):
        assert proc.poll() is None, "the run ended before its first checkpoint"
        assert time.time() < deadline
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not [p for p in (killed_root / "pretrained").iterdir() if not p.name.startswith(".")], \
        "a killed run must leave no entry that looks finished"

    resumed = models.micro("micro-s", profile="smoke", steps=STEPS, store=Store(killed_root))
    straight = models.micro("micro-s", profile="smoke", steps=STEPS, store=Store(straight_root))
    assert resumed.history.step.iloc[0] == 0 and len(resumed.history) == STEPS
    assert resumed.history.loss.tolist() == straight.history.loss.tolist()
    for a, b in zip(resumed.model.state_dict().values(), straight.model.state_dict().values()):
        assert torch.equal(a, b)
