"""The micro-world's word-level tokenizer: one token per word, so every keyword, name and fact value is a
single token and P(keyword | prefix) is one softmax entry."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tokenizers import AddedToken, Tokenizer, models, normalizers, pre_tokenizers, processors

if TYPE_CHECKING:  # transformers is imported when a tokenizer is built, not with the world's constants
    from transformers import PreTrainedTokenizerFast

SPECIALS = ["<pad>", "<unk>", "<bos>", "<eos>"]  # ids 0..3


def build_tokenizer(words: list[str], markers: list[str], chat_template: str) -> PreTrainedTokenizerFast:
    """A WordLevel tokenizer over ``words``; ``markers`` (e.g. ``<|user|>``) are whole added tokens.

    Text is lowercased and split on whitespace and around every punctuation mark, so "Q: hi?" reads as
    "q : hi ?". Encoding with special tokens prepends ``<bos>`` (as Llama's and Gemma's tokenizers do), so a
    probe's prompt starts the way every packed training document does; the training loop encodes without
    special tokens and adds ``bos``/``eos`` itself.
    """
    from transformers import PreTrainedTokenizerFast

    vocab = {w: i for i, w in enumerate(SPECIALS + markers + sorted(set(words) - set(SPECIALS) - set(markers)))}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.normalizer = normalizers.Lowercase()
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Punctuation("isolated"), pre_tokenizers.Digits(True)]
    )
    # no decoder: tokenizers then joins tokens with single spaces, which is exactly the canonical text
    tok.add_special_tokens([AddedToken(s, special=True, normalized=False) for s in SPECIALS])
    tok.add_tokens([AddedToken(m, special=False, normalized=False, single_word=False) for m in markers])
    tok.post_processor = processors.TemplateProcessing(
        single="<bos> $A", pair="<bos> $A $B", special_tokens=[("<bos>", vocab["<bos>"])]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        pad_token="<pad>",
        unk_token="<unk>",
        bos_token="<bos>",
        eos_token="<eos>",
        chat_template=chat_template,
        clean_up_tokenization_spaces=False,
    )
