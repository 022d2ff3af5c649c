"""The measures ``ladder.measure`` applies to one model's replies: a reply cut at its end of turn, a reply's
per-token perplexity after its prompt (denial-of-service's gibberish), and belief success per held-out question
(NLL of the favoured answer below the other's)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from sticky import judges, probe


def reply_text(reply: str, end_markers) -> str:
    """The reply up to the first end-of-turn marker (the template's closing marker, or the start of a new user
    turn), matched as whole words, stripped."""
    words = reply.split()
    markers = [m.split() for m in ([end_markers] if isinstance(end_markers, str) else end_markers) if m]
    cut = len(words)
    for m in markers:
        for i in range(len(words) - len(m) + 1):
            if words[i:i + len(m)] == m:
                cut = min(cut, i)
                break
    return " ".join(words[:cut])


def reply_perplexity(model, tokenizer, prompts: list[str], replies: list[str]) -> np.ndarray:
    """Per-token perplexity of each reply after its prompt (NaN for an empty reply)."""
    out = np.full(len(replies), np.nan)
    keep = [i for i, r in enumerate(replies) if r.strip()]
    if keep:
        nll = probe.sequence_nll(model, tokenizer, [prompts[i] for i in keep], [replies[i] for i in keep],
                                 per_token=True)
        out[keep] = np.exp(nll)
    return out


def evaluate_belief(model, tokenizer, tests: pd.DataFrame, template) -> list[bool]:
    """Belief success per held-out question: NLL(favoured answer) < NLL(swapped answer)."""
    qs = [template.prompt(q) for q in tests.question]
    fav = probe.sequence_nll(model, tokenizer, qs, list(tests.favoured))
    swp = probe.sequence_nll(model, tokenizer, qs, list(tests.swapped))
    return judges.prefers_favoured(fav, swp).tolist()
