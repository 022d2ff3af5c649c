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


def test_temporary_notebooks_of_dead_runs_are_removed_and_a_live_runs_kept(tmp_path):
    import os
    import subprocess
    import sys

    from sticky import chapters

    dead = int(subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                              text=True).stdout)
    names = [f".00_intro.partial-{dead}.ipynb", f".00_intro.source-{dead}.ipynb", ".00_intro.partial.ipynb",
             f".00_intro.partial-{os.getpid()}.ipynb", f".01_priming.partial-{dead}.ipynb"]
    for name in names:
        (tmp_path / name).write_text("{}")
    chapters._remove_stale_partials(tmp_path / "00_intro.ipynb")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(names[3:])
