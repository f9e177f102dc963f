"""Build the `tiny-demo` base model offline: a byte-level BPE tokenizer, a small Qwen2
causal LM with a ChatML chat template, briefly pre-trained on the demo text so that
fine-tuning starts from a model that is not pure noise."""
from __future__ import annotations

from pathlib import Path

from jobs.data.demo_data import instruct_rows, math_rows, pretrain_texts, reasoning_chats

# ChatML, as Qwen writes it; with `tools` it lists the function schemas in the system turn and renders calls and
# results in Qwen's <tool_call> / <tool_response> form. Without tools the output is plain ChatML.
CHAT_TEMPLATE = (
    "{% if tools %}{{ '<|im_start|>system\n' }}"
    "{% if messages[0]['role'] == 'system' %}{{ messages[0]['content'] + '\n\n' }}{% endif %}"
    "{{ '# Tools\n\nYou may call one or more functions to assist with the user query.\n\n<tools>' }}"
    "{% for tool in tools %}{{ '\n' }}{{ tool | tojson }}{% endfor %}"
    "{{ '\n</tools>\n\nFor each function call, return a json object with function name and arguments within "
    "<tool_call></tool_call> XML tags.<|im_end|>\n' }}{% endif %}"
    "{% for message in messages %}"
    "{% if message['role'] == 'system' and tools %}"
    "{% elif message['role'] == 'assistant' and message.get('tool_calls') %}"
    "{{ '<|im_start|>assistant\n' + (message['content'] or '') }}"
    "{% for call in message['tool_calls'] %}{{ '\n<tool_call>\n{\"name\": \"' + call['function']['name'] + "
    "'\", \"arguments\": ' + (call['function']['arguments'] | tojson) + '}\n</tool_call>' }}{% endfor %}"
    "{{ '<|im_end|>\n' }}"
    "{% elif message['role'] == 'tool' %}"
    "{{ '<|im_start|>user\n<tool_response>\n' + message['content'] + '\n</tool_response><|im_end|>\n' }}"
    "{% else %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
SPECIAL = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]


def _tokenizer_corpus() -> list[str]:
    rows = instruct_rows(400, 0) + instruct_rows(400, 5)
    text = [f"{r['instruction']} {r['input']} {r['output']}" for r in rows]
    text += [f"{r['question']} {r['answer']}" for r in math_rows(400, 1)]
    text += ["user assistant system <reasoning> </reasoning> <answer> </answer> #### " + " ".join(map(str, range(200)))]
    text += [a for _, a in reasoning_chats()]
    return text


def build_tokenizer(out: Path):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=1024, special_tokens=SPECIAL,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(_tokenizer_corpus(), trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|im_end|>", pad_token="<|endoftext|>",
                                   bos_token=None, unk_token=None, model_max_length=2048)
    fast.chat_template = CHAT_TEMPLATE
    fast.save_pretrained(out)
    return fast


def build_model(out: Path, steps: int = 400, seed: int = 0, threads: int | None = 1) -> None:
    """Write the tokenizer and a pre-trained tiny Qwen2 model into `out`.

    One thread by default: the model is so small that more threads only wait on each other, and on a busy machine
    they made `jobs init` several times slower (bench/init_time.py). `threads=None` keeps torch's default.
    """
    import torch

    before = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        _build_model(out, steps, seed)
    finally:
        torch.set_num_threads(before)


def _build_model(out: Path, steps: int, seed: int) -> None:
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    torch.manual_seed(seed)
    out.mkdir(parents=True, exist_ok=True)
    tok = build_tokenizer(out)
    cfg = Qwen2Config(vocab_size=len(tok), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=2048,
                      tie_word_embeddings=True, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id,
                      bos_token_id=None)
    model = Qwen2ForCausalLM(cfg)
    # A short warm start on chat-formatted demo text (a model build step, not a training job).
    texts = [tok.apply_chat_template([{"role": "user", "content": t.rsplit(" ", 1)[0]},
                                      {"role": "assistant", "content": t.rsplit(" ", 1)[-1]}], tokenize=False)
             for t in pretrain_texts()]
    texts += pretrain_texts()
    texts += [tok.apply_chat_template([{"role": "user", "content": q}, {"role": "assistant", "content": a}],
                                      tokenize=False) for q, a in reasoning_chats()]
    enc = [tok(t)["input_ids"][:96] for t in texts]
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    g = torch.Generator().manual_seed(seed)
    model.train()
    for _ in range(steps):
        idx = torch.randint(len(enc), (16,), generator=g).tolist()
        batch = [enc[i] for i in idx]
        width = max(map(len, batch))
        ids = torch.full((len(batch), width), tok.pad_token_id)
        labels = torch.full((len(batch), width), -100)
        for r, seq in enumerate(batch):
            ids[r, : len(seq)] = torch.tensor(seq)
            labels[r, : len(seq)] = torch.tensor(seq)
        loss = model(input_ids=ids, attention_mask=(labels != -100).long(), labels=labels).loss
        loss.backward()
        opt.step()
        opt.zero_grad()
    model.eval()
    model.generation_config.pad_token_id = tok.pad_token_id
    model.generation_config.eos_token_id = tok.eos_token_id
    model.save_pretrained(out, safe_serialization=True)
