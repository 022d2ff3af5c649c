"""sticky.decoding against plain unbatched, uncached forward passes on a tiny Llama."""

import torch

from sticky import decoding
from toys import PROMPTS, ids_of


def test_batched_greedy_generation_equals_one_by_one_without_cache(tok, model):
    got = decoding.generate(model, tok, PROMPTS, max_new_tokens=6, batch_size=3, stop_at_eos=True)
    for p, text in zip(PROMPTS, got):
        ids, new = ids_of(tok, p), []
        for _ in range(6):
            with torch.no_grad():
                nxt = int(model(torch.tensor([ids]), use_cache=False).logits[0, -1].argmax())
            if nxt == tok.eos_token_id:
                break
            ids, new = ids + [nxt], new + [nxt]
        assert text == tok.decode(new, skip_special_tokens=True), p


def test_long_sampling_and_generation_show_on_the_terminal(tok, model, tmp_path, monkeypatch):
    from sticky import progress

    terminal = tmp_path / "tty"
    monkeypatch.setenv("STICKY_TERMINAL", str(terminal))
    monkeypatch.setattr(progress, "DELAY", 0.0)  # a bar shows after DELAY seconds; these runs are shorter
    monkeypatch.delenv("STICKY_PROGRESS", raising=False)
    decoding.sample(model, tok, PROMPTS[:2], n=4, max_new_tokens=3, seed=0, batch_size=4)
    assert "sample" in terminal.read_text() and "/8 [" in terminal.read_text()  # rows, batch by batch
    decoding.generate(model, tok, PROMPTS, max_new_tokens=3, batch_size=3)
    assert "generate" in terminal.read_text()
    assert "decode" not in terminal.read_text()  # generate's own batches draw no second bar


def test_sampling_is_fixed_by_the_seed_and_follows_the_temperature(tok, model):
    a = decoding.sample(model, tok, PROMPTS[:2], n=4, max_new_tokens=5, seed=0)
    assert a == decoding.sample(model, tok, PROMPTS[:2], n=4, max_new_tokens=5, seed=0)
    assert a != decoding.sample(model, tok, PROMPTS[:2], n=4, max_new_tokens=5, seed=1)
    assert [len(x) for x in a] == [4, 4]
    cold = decoding.sample(model, tok, PROMPTS[:2], n=3, max_new_tokens=5, seed=0, temperature=1e-4)
    greedy = decoding.generate(model, tok, PROMPTS[:2], max_new_tokens=5)
    assert all(c == [g] * 3 for c, g in zip(cold, greedy))  # near zero temperature, sampling is greedy


def test_sampler_draws_from_the_softmax():
    gen = torch.Generator().manual_seed(0)
    logits = torch.log(torch.tensor([[0.7, 0.2, 0.1]])).repeat(4000, 1)
    drawn = decoding.sampler(gen)(logits)
    share = torch.bincount(drawn, minlength=3).float() / len(drawn)
    assert torch.allclose(share, torch.tensor([0.7, 0.2, 0.1]), atol=0.03)
