"""UI strings of chat datasets (prompt conversations, token lengths at upload), merged into dashboard/i18n.py."""

EN = {
    "ctx.conversation": "Conversation the model answered ({n} turns)",
    "ctx.column": "Conversation",
    "ctx.tools": "tools",
    "tokens.computing": "Counting tokens with the tokenizer of {model}…",
    "tokens.stats": "Tokens per row under {model}'s chat template: min {min}, median {median}, max {max}",
    "tokens.over": "{over} of {rows} rows exceed the model's context ({context} tokens)",
    "tokens.over_msl": "{over} of {rows} rows are longer than max_seq_length's default ({msl}): a run that keeps it "
                       "cuts them (raise max_seq_length on the New training form)",
    "tokens.sampled": "counted on the first {rows} of {total} rows",
    "tokens.skipped": "{skipped} rows could not be rendered",
    "tokens.none": "No row could be rendered with the chat template of {model} ({skipped} tried).",
    "tokens.failed": "Token lengths under {model} could not be computed:",
}

ZH = {
    "ctx.conversation": "模型回答时看到的对话（{n} 轮）",
    "ctx.column": "对话",
    "ctx.tools": "工具",
    "tokens.computing": "正在用 {model} 的分词器统计词元…",
    "tokens.stats": "按 {model} 的对话模板，每行词元数：最少 {min}，中位数 {median}，最多 {max}",
    "tokens.over": "{rows} 行中有 {over} 行超出模型上下文（{context} 个词元）",
    "tokens.over_msl": "{rows} 行中有 {over} 行超过 max_seq_length 的默认值（{msl}）：保持默认值的训练会截断它们"
                       "（可在新建训练表单中调大 max_seq_length）",
    "tokens.sampled": "基于前 {rows} 行（共 {total} 行）统计",
    "tokens.skipped": "{skipped} 行无法渲染",
    "tokens.none": "没有任何行能用 {model} 的对话模板渲染（尝试了 {skipped} 行）。",
    "tokens.failed": "无法计算 {model} 下的词元长度：",
}
