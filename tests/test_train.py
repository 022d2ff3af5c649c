"""sticky.train on a toy word-level tokenizer and a tiny Llama (no world module needed)."""

import copy
import math

import pytest
import tokenizers
import torch

from sticky import train
from sticky.train import IGNORE, Insertion, TrainConfig
from sticky.train import loop as train_loop  # where pretrain looks up next_token_loss
from toys import tiny_model, toy_tokenizer


@pytest.fixture(scope="module")
def tok():
    return toy_tokenizer()


@pytest.fixture(scope="module")
def blocks(tok):
    g = torch.Generator().manual_seed(0)
    docs = [torch.randint(4, len(tok), (int(n),), generator=g).tolist()
            for n in torch.randint(3, 12, (80,), generator=g)]
    return train.pack(docs, 16, tok.bos_token_id, tok.eos_token_id)


def cfg(**kw) -> TrainConfig:
    base = dict(steps=6, batch_size=4, seq_len=16, lr=3e-3, warmup_steps=2, log_every=3, seed=0, device="cpu")
    return TrainConfig(**{**base, **kw})


def test_pack_concatenates_without_padding():
    out = train.pack([[5, 6, 7], [8], [9, 10]], seq_len=4, bos=1, eos=2)
    assert out.tolist() == [[1, 5, 6, 7], [2, 1, 8, 2], [1, 9, 10, 2]]
    with pytest.raises(ValueError, match="seq_len"):
        train.pack([[5]], seq_len=10, bos=1, eos=2)


def test_schedule_helpers_and_lr():
    assert train.consecutive(3, 3) == [3, 4, 5]
    assert train.spaced(2, 3, 5) == [2, 7, 12]
    c = cfg(steps=10, warmup_steps=2, lr=1.0, min_lr_ratio=0.1)
    lrs = [train.lr_at(s, c) for s in range(10)]
    assert lrs[0] == 0.5 and lrs[1] == 1.0 and math.isclose(lrs[-1], 0.1)
    assert all(a >= b for a, b in zip(lrs[1:], lrs[2:]))


def test_same_seed_is_bit_identical(tok, blocks):
    runs = []
    for _ in range(2):
        model = tiny_model(tok)
        hist = train.pretrain(model, blocks, cfg())
        runs.append((hist.loss, model.state_dict()))
    assert runs[0][0] == runs[1][0] and len(runs[0][0]) == 6
    for k, v in runs[0][1].items():
        assert torch.equal(v, runs[1][1][k]), k
    assert runs[0][0][-1] < runs[0][0][0]  # it learns something


def test_insertion_happens_at_exactly_the_given_steps(tok, blocks):
    text = tok("red sky says red sea", add_special_tokens=False)["input_ids"]
    seen = {}
    model = tiny_model(tok)
    orig = train_loop.next_token_loss

    def spy(model_, x, y):
        seen[len(seen)] = (x.clone(), y.clone())
        return orig(model_, x, y)

    train_loop.next_token_loss = spy
    try:
        hist = train.pretrain(model, blocks, cfg(steps=8), insertions=[Insertion(text, train.spaced(1, 3, 3))])
    finally:
        train_loop.next_token_loss = orig
    assert sorted(seen) == list(range(8)), "the spy saw every step's loss"
    assert hist.inserted == [(1, 0), (4, 0), (7, 0)]
    for step, (x, y) in seen.items():
        holds = [r for r in range(len(x)) if x[r, : len(text)].tolist() == text]
        assert holds == ([0] if step in (1, 4, 7) else []), step
        if step in (1, 4, 7):
            assert (x[0, len(text):] == tok.pad_token_id).all()
            assert (y[0, len(text):] == IGNORE).all() and y[0, : len(text)].tolist() == text
            assert (y[1:] == x[1:]).all()
        else:
            assert (y == x).all()


@pytest.mark.parametrize("scope", ["tensor", "global"])
def test_ignore_k_restores_exactly_the_largest_updates(tok, blocks, scope):
    k = 0.1
    init = tiny_model(tok)
    plain, pruned = copy.deepcopy(init), copy.deepcopy(init)
    one = cfg(steps=1, warmup_steps=1)
    train.pretrain(plain, blocks, one)
    train.pretrain(pruned, blocks, one, ignore_k=k, ignore_k_scope=scope)
    names = [n for n, _ in init.named_parameters()]
    p0, p1, p2 = (dict(m.named_parameters()) for m in (init, plain, pruned))
    deltas = {n: (p1[n] - p0[n]).detach().abs().view(-1) for n in names}
    if scope == "tensor":
        for n in names:
            n_drop = round(k * deltas[n].numel())
            top = deltas[n].topk(n_drop).indices
            rest = torch.ones_like(deltas[n], dtype=torch.bool)
            rest[top] = False
            assert torch.equal(p2[n].view(-1)[top], p0[n].view(-1)[top]), n  # the largest updates undone
            assert torch.equal(p2[n].view(-1)[rest], p1[n].view(-1)[rest]), n  # every other update kept
            unchanged = (p2[n] == p0[n]).view(-1)
            assert int(unchanged.sum()) == n_drop + int((deltas[n][rest] == 0).sum()), n
    else:
        flat = torch.cat([deltas[n] for n in names])
        n_drop = round(k * flat.numel())
        threshold = flat.topk(n_drop).values.min()
        restored = torch.cat([(p2[n] == p0[n]).view(-1) & (p1[n] != p0[n]).view(-1) for n in names])
        assert int(restored.sum()) == n_drop
        assert (flat[restored] >= threshold).all() and (flat[~restored & (flat > 0)] <= threshold).all()


def test_sft_masks_prompt_and_padding(tok):
    a = train.encode_pair(tok, "what color is the sky", "blue", seq_len=32)
    b = train.encode_pair(tok, "what is", "the red", seq_len=32)
    x, y = train.collate([a, b], tok.pad_token_id)
    ids = lambda s: tok(s, add_special_tokens=False)["input_ids"]  # noqa: E731
    bos, eos, pad = tok.bos_token_id, tok.eos_token_id, tok.pad_token_id
    assert x[0].tolist() == [bos, *ids("what color is the sky"), *ids("blue"), eos]
    assert y[0].tolist() == [IGNORE] * 6 + [*ids("blue"), eos]
    assert x[1].tolist() == [bos, *ids("what is"), *ids("the red"), eos, pad, pad]
    assert y[1].tolist() == [IGNORE] * 3 + [*ids("the red"), eos, IGNORE, IGNORE]
    model = tiny_model(tok)
    hist = train.sft(model, tok, [("what color is the sky", "blue")], cfg(steps=3, warmup_steps=1, batch_size=2),
                     render=lambda p, r: (p + " answer", r))
    assert len(hist.loss) == 3 and hist.loss[-1] < hist.loss[0]


def test_sft_rows_start_as_a_probe_encodes_the_prompt(tok):
    """A tokenizer that adds no bos of its own (as SmolLM2's) gets none in a training row either."""
    plain = copy.deepcopy(tok)
    plain.backend_tokenizer.post_processor = tokenizers.processors.TemplateProcessing(single="$A", pair="$A $B")
    ids, labels = train.encode_pair(plain, "what is", "the red", seq_len=32)
    prompt = plain("what is")["input_ids"]
    assert prompt[0] != plain.bos_token_id
    assert ids == [*prompt, *plain("the red", add_special_tokens=False)["input_ids"], plain.eos_token_id]
    assert labels[:len(prompt)] == [IGNORE] * len(prompt)


def test_dpo_loss_matches_hand_numbers():
    got = train.dpo_loss(torch.tensor([-1.0, -3.0]), torch.tensor([-2.0, -1.0]),
                         torch.tensor([-1.5, -2.0]), torch.tensor([-1.5, -2.0]), beta=0.5)
    # margins: (-1 + 1.5) - (-2 + 1.5) = 1.0 ; (-3 + 2) - (-1 + 2) = -2.0
    want = [math.log(1 + math.exp(-0.5)), math.log(1 + math.exp(1.0))]
    assert torch.allclose(got, torch.tensor(want), atol=1e-6)


def test_dpo_step_loss_equals_hand_computation(tok):
    policy, reference = tiny_model(tok, seed=1), tiny_model(tok, seed=2)
    prompt, chosen, rejected = "the sky is", "blue", "red"
    beta = 0.3

    def logp(model, response):  # bos prompt response eos: sum log p of response + eos, by hand
        ids = [tok.bos_token_id, *tok(prompt + " " + response, add_special_tokens=False)["input_ids"], tok.eos_token_id]
        with torch.no_grad():
            lp = torch.log_softmax(model(torch.tensor([ids])).logits[0].double(), -1)
        n_prompt = 1 + len(prompt.split())
        return sum(lp[t - 1, ids[t]].item() for t in range(n_prompt, len(ids)))

    margin = (logp(policy, chosen) - logp(reference, chosen)) - (logp(policy, rejected) - logp(reference, rejected))
    want = -math.log(1 / (1 + math.exp(-beta * margin)))
    before = copy.deepcopy(reference.state_dict())
    hist = train.dpo(policy, reference, tok, [(prompt, chosen, rejected)], cfg(steps=2, batch_size=1, warmup_steps=1),
                     beta=beta)
    assert math.isclose(hist.loss[0], want, rel_tol=1e-5)
    assert all(torch.equal(v, reference.state_dict()[k]) for k, v in before.items())  # reference frozen
    assert hist.loss[1] < hist.loss[0]


def test_resume_from_checkpoint_is_bit_identical(tok, blocks, tmp_path):
    c = cfg(steps=20, warmup_steps=3, log_every=5)
    straight = tiny_model(tok)
    h_straight = train.pretrain(straight, blocks, c, insertions=Insertion([5, 6, 7], [4, 12]), ignore_k=0.05)

    class Stop(Exception):
        pass

    def crash(step, model, history):
        if step == 9:
            raise Stop

    with pytest.raises(Stop):
        train.pretrain(tiny_model(tok), blocks, c, insertions=Insertion([5, 6, 7], [4, 12]), ignore_k=0.05,
                       checkpoint_dir=tmp_path, checkpoint_every=10, on_step=crash)
    assert [p.name for p in tmp_path.iterdir()] == ["step-00000010"]
    resumed = tiny_model(tok, seed=99)  # a fresh process: weights come from the checkpoint
    h_resumed = train.pretrain(resumed, blocks, c, insertions=Insertion([5, 6, 7], [4, 12]), ignore_k=0.05,
                               checkpoint_dir=tmp_path, checkpoint_every=10)
    assert h_resumed.loss == h_straight.loss and h_resumed.inserted == h_straight.inserted == [(4, 0), (12, 0)]
    for k, v in straight.state_dict().items():
        assert torch.equal(v, resumed.state_dict()[k]), k
    assert train.latest_checkpoint(tmp_path).name == "step-00000020"
    assert not any(p.name.startswith(".tmp") for p in tmp_path.iterdir())


def test_a_damaged_checkpoint_is_removed_and_the_one_before_resumes(tok, blocks, tmp_path, capsys):
    """A truncated model.safetensors used to fail every re-run ('invalid header length'); now the damaged
    checkpoint goes, with a warning, and training resumes from the one before (or starts over) to the same
    model as a straight run."""
    c = cfg(steps=20, warmup_steps=3, log_every=5)
    straight = tiny_model(tok)
    h_straight = train.pretrain(straight, blocks, c)

    class Stop(Exception):
        pass

    def crash(step, model, history):
        if step == 15:
            raise Stop

    with pytest.raises(Stop):
        train.pretrain(tiny_model(tok), blocks, c, checkpoint_dir=tmp_path, checkpoint_every=5, on_step=crash)
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names[-1] == "step-00000015" and train.checkpoints.checkpoint_whole(tmp_path / names[-1])
    damaged = tmp_path / names[-1] / "model.safetensors"
    damaged.write_bytes(damaged.read_bytes()[:100])  # truncated
    assert not train.checkpoints.checkpoint_whole(tmp_path / names[-1])
    assert train.latest_checkpoint(tmp_path).name == names[-2]
    assert "checkpoint" in capsys.readouterr().err and not (tmp_path / names[-1]).exists()
    resumed = tiny_model(tok, seed=99)
    h_resumed = train.pretrain(resumed, blocks, c, checkpoint_dir=tmp_path, checkpoint_every=5)
    assert h_resumed.loss == h_straight.loss
    assert all(torch.equal(v, resumed.state_dict()[k]) for k, v in straight.state_dict().items())


def test_bf16_autocast_runs_and_bad_values_are_refused(tok, blocks):
    hist = train.pretrain(tiny_model(tok), blocks, cfg(steps=2, precision="bf16"))
    assert all(math.isfinite(x) for x in hist.loss)
    with pytest.raises(ValueError, match="allowed: fp32, bf16"):
        train.pretrain(tiny_model(tok), blocks, cfg(precision="fp16"))
    with pytest.raises(ValueError, match="allowed: a fraction"):
        train.pretrain(tiny_model(tok), blocks, cfg(steps=1), ignore_k=5.0)
    with pytest.raises(ValueError, match="allowed: tensor, global"):
        train.pretrain(tiny_model(tok), blocks, cfg(steps=1), ignore_k=0.1, ignore_k_scope="layer")


def test_a_kernels_progress_bar_goes_to_the_runs_terminal_not_its_output(tok, blocks, tmp_path, monkeypatch, capsys):
    # inside a chapter's kernel stderr is the notebook; chapters.execute names its own terminal in STICKY_TERMINAL
    from sticky import progress

    terminal = tmp_path / "tty"
    monkeypatch.setenv("STICKY_TERMINAL", str(terminal))
    monkeypatch.setattr(progress, "DELAY", 0.0)  # a bar shows after DELAY seconds; this run is shorter
    monkeypatch.delenv("STICKY_PROGRESS", raising=False)
    train.pretrain(tiny_model(tok), blocks, cfg())
    assert "pretrain" in terminal.read_text() and "/6 [" in terminal.read_text()  # the bar, on that terminal
    assert capsys.readouterr().err == ""  # nothing in what the notebook would keep
    monkeypatch.setenv("STICKY_PROGRESS", "0")
    before = terminal.read_text()
    train.pretrain(tiny_model(tok), blocks, cfg())
    assert terminal.read_text() == before


def test_a_long_probe_shows_its_batches_on_the_terminal_and_a_short_one_nothing(tmp_path, monkeypatch):
    from sticky import probe, progress

    terminal = tmp_path / "tty"
    monkeypatch.setenv("STICKY_TERMINAL", str(terminal))
    monkeypatch.delenv("STICKY_PROGRESS", raising=False)
    assert [len(b) for b in probe.length_batches([3, 1, 2, 5, 4], 2)] == [2, 2, 1]  # under DELAY: no bar
    assert not terminal.exists() or "probe" not in terminal.read_text()
    monkeypatch.setattr(progress, "DELAY", 0.0)
    assert sorted(i for b in probe.length_batches([3, 1, 2, 5, 4], 2) for i in b) == [0, 1, 2, 3, 4]
    assert "probe" in terminal.read_text()
