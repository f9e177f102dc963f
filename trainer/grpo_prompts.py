"""GRPO prompts that carry tools: rendered by the chat template with each row's own tool schemas.

TRL's GRPOTrainer (1.16) renders a conversational prompt with `tools=self.tools`, the Python callables it may run
during generation, the same for every row; `chat_template_kwargs` is one dict for the whole run too. Neither takes a
row's JSON tool schemas. So when a dataset's prompts carry tools, every prompt is rendered here, with the tools of
its row and the generation prompt, exactly as samples and evaluation render it (trainer.generate.chat_text), and
handed to TRL as plain text, which TRL tokenizes as it is. Without tools, prompts stay conversations for TRL.
"""
from __future__ import annotations

from .generate import chat_text
from .prompt_context import of_item


def has_tools(items: list[dict]) -> bool:
    return any(item.get("tools") for item in items)


def prompt_text(tokenizer, item: dict) -> str:
    """The prompt conversation with its tools, up to the assistant's turn; a leading BOS is left to the tokenizer
    when it adds one itself, so the prompt never starts with two."""
    text = chat_text(tokenizer, of_item(item))
    bos = tokenizer.bos_token
    if bos and text.startswith(bos) and tokenizer("x")["input_ids"][:1] == [tokenizer.bos_token_id]:
        text = text[len(bos):]
    return text


def rendered_dataset(tokenizer, items: list[dict]):
    """{prompt: text, reference} records for GRPOTrainer."""
    from datasets import Dataset

    return Dataset.from_list([{"prompt": prompt_text(tokenizer, i), "reference": i["reference"]} for i in items])
