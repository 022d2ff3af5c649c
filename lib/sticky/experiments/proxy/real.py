"""The real-model track: proxy decoding on a hub family sharing one vocabulary (GPU)."""

from __future__ import annotations

import json
from typing import Callable

import pandas as pd

from sticky import models, train
from sticky.decoding import Part, alone, decode

from .ensemble import proxy_combine
from .parameters import DATA


def real_items() -> pd.DataFrame:
    """The project's questions for real models (``data/proxy/real_items.json``): task, user, answer."""
    return pd.DataFrame(json.loads((DATA / "real_items.json").read_text()))


def same_vocabulary(*tokenizers) -> bool:
    """Whether the tokenizers map every token to the same id (the proxy adds logits position by position)."""
    vocab = tokenizers[0].get_vocab()
    return all(t.get_vocab() == vocab for t in tokenizers[1:])


def real_track(ids: dict[str, str], items: pd.DataFrame, max_new_tokens: int = 48, device: str = "auto",
               loader: Callable | None = None) -> pd.DataFrame:
    """Base / expert / proxy / direct on hub models (``ids``: large, direct, small, expert). The expert and the
    direct model see their tokenizer's chat template; the bases see the plain question. Scored by whether the
    expected answer appears in the response (case-insensitive). ``loader(id) -> (model, tokenizer)``."""
    loader = loader or (lambda name: models.load(name))
    dev = train.resolve_device(device)
    loaded = {role: loader(name) for role, name in ids.items()}
    tokenizers = [t for _, t in loaded.values()]
    if not same_vocabulary(*tokenizers):
        raise ValueError("real_* models must share one vocabulary; allowed: one family (e.g. Qwen2.5 0.5B and 1.5B)")
    tok = loaded["expert"][1]
    m = {role: mdl.to(dev).eval() for role, (mdl, _) in loaded.items()}
    plain = [tok(u)["input_ids"] for u in items.user]
    chat = [tok.apply_chat_template([{"role": "user", "content": u}], add_generation_prompt=True, tokenize=True)
            for u in items.user]
    chat = [c["input_ids"] if isinstance(c, dict) or hasattr(c, "keys") else list(c) for c in chat]
    stops = [t for t in {tok.eos_token_id, tok.pad_token_id} if t is not None]
    specs = {"base": ([Part(m["large"], plain)], alone), "expert": ([Part(m["expert"], chat)], alone),
             "direct": ([Part(m["direct"], chat)], alone),
             "proxy": ([Part(m["large"], plain), Part(m["expert"], chat), Part(m["small"], plain)], proxy_combine(1.0))}
    rows = []
    for arm, (parts, combine) in specs.items():
        out = decode(parts, combine, max_new_tokens, stops, batch_size=16)
        for i, r in enumerate(out):
            text = tok.decode(r, skip_special_tokens=True)
            rows.append(dict(item=i, arm=arm, task=items.task.iloc[i], response=text,
                             correct=float(items.answer.iloc[i].lower() in text.lower())))
    return pd.DataFrame(rows)
