"""UI strings of how values are shown: durations, chart axes and the values a chart leaves out, the job picker,
rejected specs' lines, the Datasets page's wide-dataset columns and conversation preview. Merged into
dashboard/i18n.py's catalogs."""

EN = {
    "dur.hm": "{h}h {m:02d}m", "dur.ms": "{m}m {s:02d}s", "dur.s": "{s}s",
    "details.pick_label": "Open a job", "details.pick_hint": "Pick a job: name · status · id",
    "col.created_local": "Created ({tz})",
    "spool.reason_lines": "{file} · {time}",
    "datasets.columns_n": "{n} columns", "datasets.columns_more": "… and {n} more",
    "datasets.column_search": "Search the {n} columns", "datasets.columns_shown": "Showing {shown} of {n} columns.",
    "datasets.columns_match": "Showing {shown} of {n} columns matching “{q}”.", "datasets.conversation": "Row {n}",
    "chart.ignored": "Left out of the axis range (not finite, or far outside the other values):",
    "axis.step": "step", "axis.epoch": "epoch", "axis.elapsed_seconds": "elapsed seconds", "axis.tokens_seen": "tokens seen",
    "axis.loss": "loss", "axis.eval_loss": "eval loss", "axis.learning_rate": "learning rate", "axis.grad_norm": "grad norm",
    "axis.tokens_per_second": "tokens per second", "axis.reward": "reward", "axis.reward_std": "reward std",
    "axis.kl": "KL", "axis.completion_length": "completion length", "axis.reward_margin": "reward margin",
    "axis.reward_accuracy": "reward accuracy", "axis.rewards_chosen": "rewards (chosen)",
    "axis.rewards_rejected": "rewards (rejected)",
}

ZH = {
    "dur.hm": "{h}小时{m:02d}分", "dur.ms": "{m}分{s:02d}秒", "dur.s": "{s}秒",
    "details.pick_label": "打开一个任务", "details.pick_hint": "选择任务：名称 · 状态 · 编号",
    "col.created_local": "创建时间（{tz}）",
    "spool.reason_lines": "{file} · {time}",
    "datasets.columns_n": "{n} 列", "datasets.columns_more": "… 另有 {n} 列",
    "datasets.column_search": "在 {n} 列中搜索", "datasets.columns_shown": "显示 {n} 列中的 {shown} 列。",
    "datasets.columns_match": "显示 {n} 列中匹配“{q}”的 {shown} 列。", "datasets.conversation": "第 {n} 行",
    "chart.ignored": "未计入坐标轴范围（非有限值，或远离其他数值）：",
    "axis.step": "步数", "axis.epoch": "轮次", "axis.elapsed_seconds": "已用秒数", "axis.tokens_seen": "已见词元数",
    "axis.loss": "损失", "axis.eval_loss": "评估损失", "axis.learning_rate": "学习率", "axis.grad_norm": "梯度范数",
    "axis.tokens_per_second": "每秒词元数", "axis.reward": "奖励", "axis.reward_std": "奖励标准差",
    "axis.kl": "KL 散度", "axis.completion_length": "生成长度", "axis.reward_margin": "奖励差值",
    "axis.reward_accuracy": "奖励准确率", "axis.rewards_chosen": "奖励（选中）",
    "axis.rewards_rejected": "奖励（拒绝）",
}
