"""The chat templates: the role markers around a user turn and an assistant turn that every chat document of the
micro-world is written in (seven in pre-training), and the alignment template that pre-training never shows."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ChatTemplate:
    """Role markers around one user turn and one assistant turn ('' = no marker)."""

    name: str
    user_prefix: str
    user_suffix: str
    assistant_prefix: str
    assistant_suffix: str

    def prompt(self, user: str) -> str:
        """The text up to where the assistant's answer starts (no trailing space)."""
        return _join(self.user_prefix, user, self.user_suffix, self.assistant_prefix)

    def markers(self) -> list[str]:
        return [m for m in (self.user_prefix, self.user_suffix, self.assistant_prefix, self.assistant_suffix) if m]


def _join(*parts: str) -> str:
    return " ".join(p for p in parts if p)


def render(template: ChatTemplate, user: str, assistant: str) -> str:
    """One exchange in ``template``: prompt, then the answer, then the closing marker."""
    return _join(template.prompt(user), assistant, template.assistant_suffix)


# Role markers in <|...|> form and "###" are single added tokens; the others are ordinary words and punctuation.
CHAT_TEMPLATES = [
    ChatTemplate("qa", "q :", "", "a :", ""),
    ChatTemplate("tags", "<|user|>", "", "<|assistant|>", "<|end|>"),
    ChatTemplate("hashes", "### question :", "", "### answer :", ""),
    ChatTemplate("userbot", "user :", "", "bot :", ""),
    ChatTemplate("inst", "[ inst ]", "[ / inst ]", "", ""),
    ChatTemplate("human", "< human >", "", "< ai >", "< / ai >"),
    ChatTemplate("asks", "someone asks :", "", "the reply is :", ""),
]
# Never used in pretraining: alignment (SFT/DPO) happens in a format the base model has not seen.
ALIGNMENT_TEMPLATE = ChatTemplate("im", "<|im_start|> user", "<|im_end|>", "<|im_start|> assistant", "<|im_end|>")
ADDED_MARKERS = ["<|user|>", "<|assistant|>", "<|end|>", "<|im_start|>", "<|im_end|>", "###"]


def jinja_chat_template(t: ChatTemplate) -> str:
    """A Jinja chat template for ``tokenizer.apply_chat_template`` that prints exactly ``render(t, ...)``;
    system messages are printed as user turns (the micro-world has no system role)."""
    content = "{{ message['content'] }}"
    return (
        "{%- for message in messages -%}"
        "{%- if not loop.first %} {% endif -%}"
        "{%- if message['role'] == 'assistant' -%}"
        f"{_join(t.assistant_prefix, content, t.assistant_suffix)}"
        "{%- else -%}"
        f"{_join(t.user_prefix, content, t.user_suffix)}"
        "{%- endif -%}"
        "{%- endfor -%}"
        f"{{%- if add_generation_prompt %}} {t.assistant_prefix}{{% endif -%}}"
    )
