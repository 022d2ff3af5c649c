"""sticky.probe against plain unpadded forward passes on a tiny Llama (no world module needed)."""

import numpy as np
import pytest
import torch

from sticky import probe
from toys import PROMPTS, ids_of


def plain_logprobs(model, ids) -> torch.Tensor:
    with torch.no_grad():
        return torch.log_softmax(model(torch.tensor([ids])).logits[0].double(), -1)


def test_next_token_probs_equal_unpadded_forward(tok, model):
    targets = ["mat", "blue", "blue", "on", "green"]
    got = probe.next_token_probs(model, tok, PROMPTS, targets, batch_size=3)
    want = [plain_logprobs(model, ids_of(tok, p))[-1, ids_of(tok, t, False)[0]].exp().item()
            for p, t in zip(PROMPTS, targets)]
    np.testing.assert_allclose(got, want, rtol=1e-5)
    # ids work as targets too, and a multi-token target is refused
    ids = [ids_of(tok, t, False)[0] for t in targets]
    np.testing.assert_allclose(probe.next_token_probs(model, tok, PROMPTS, ids, batch_size=3), got)  # same batches
    with pytest.raises(ValueError, match="single-token"):
        probe.next_token_probs(model, tok, ["the"], ["red sky"])


def test_probs_matrix_equals_unpadded_forward(tok, model):
    targets = ["red", "blue", "green", "<eos>"]
    got = probe.probs_matrix(model, tok, PROMPTS, targets, batch_size=2)
    ids = [tok.convert_tokens_to_ids(t) for t in targets]
    want = np.stack([plain_logprobs(model, ids_of(tok, p))[-1, ids].exp().numpy() for p in PROMPTS])
    assert got.shape == (len(PROMPTS), len(targets))
    np.testing.assert_allclose(got, want, rtol=1e-5)


def test_sequence_nll_equals_hand_sum(tok, model):
    completions = ["mat", "sky is blue", "blue", "on the mat says yes", "green"]
    got = probe.sequence_nll(model, tok, PROMPTS, completions, batch_size=2)
    got_mean = probe.sequence_nll(model, tok, PROMPTS, completions, per_token=True)
    for i, (p, c) in enumerate(zip(PROMPTS, completions)):
        head, tail = ids_of(tok, p), ids_of(tok, c, False)
        lp = plain_logprobs(model, head + tail)
        want = -sum(lp[len(head) + j - 1, t].item() for j, t in enumerate(tail))
        assert got[i] == pytest.approx(want, rel=1e-5)
        assert got_mean[i] == pytest.approx(want / len(tail), rel=1e-5)
