"""UI strings of chat datasets (prompt conversations, token lengths at upload), merged into dashboard/i18n.py."""

EN = {
    "ctx.conversation": "Conversation the model answered ({n} turns)",
    "ctx.column": "Conversation",
    "ctx.tools": "tools",
}

ZH = {
    "ctx.conversation": "模型回答时看到的对话（{n} 轮）",
    "ctx.column": "对话",
    "ctx.tools": "工具",
}
