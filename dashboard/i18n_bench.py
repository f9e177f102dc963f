"""Texts of the benchmark results (lm-evaluation-harness), the forgetting alarm and the Benchmarks section."""

EN = {
    "phase.benchmarks": "benchmarks",
    "bench.title": "Benchmarks (lm-evaluation-harness)",
    "bench.suite": "Suite", "bench.metric": "Metric", "bench.stderr": "± stderr",
    "bench.caption": "lm-eval {version}; up to {limit} rows per task; the same prompts and scoring for base and tuned. "
                     "± is the standard error of the difference. Red: tuned dropped by more than {rule}.",
    "bench.rule_stderr": "its stderr", "bench.rule_threshold": "{threshold} (benchmark_alarm_threshold in config.json)",
    "bench.alarm": "Forgetting alarm: the tuned model scores lower than the base on {n} benchmark metric(s).",
    "bench.drop": "**{suite}** · {metric}: {base} → {tuned} (−{drop}, more than {limit})",
    "bench.failed": "Benchmark suite {suite} could not be scored: {reason}",
    "bench.badge": "⚠️ {suite} {drop}",
    "bench.section": "Benchmarks", "bench.none": "No workspace benchmarks yet.",
    "bench.how": "A benchmark scores base and tuned models after training (the job's `benchmarks` param). Upload a JSONL "
                 "file: multiple choice (question, a list of choices, the answer's index or letter) or exact match "
                 "(question and answer; a GSM8K-style `#### n` answer compares the final number). Any lm-eval task "
                 "name (gsm8k, mmlu, …) works too where its data can be loaded.",
    "bench.name": "Name", "bench.kind": "Kind", "bench.rows": "Rows", "bench.shots": "Few-shot",
    "bench.file": "JSONL file", "bench.q": "Question column", "bench.c": "Choices column", "bench.a": "Answer column",
    "bench.add": "Register benchmark", "bench.added": "Registered benchmark {name}.",
    "bench.run.title": "Run benchmarks on this run",
    "bench.run.suites": "Suites", "bench.run.pick": "Choose workspace benchmarks",
    "bench.run.help": "Scored on the base and on the tuned model by the spooler, on a slot (as an export is); the "
                      "scores are added to this run's evaluation. Same as `python -m spooler benchmark`.",
    "bench.run.limit": "Rows per task", "bench.run.button": "Queue benchmarks",
    "bench.run.no_suites": "No workspace benchmarks to run yet: register one on the Base models page.",
    "bench.run.waiting": "Benchmarks {suites}: waiting for a free slot.",
    "bench.run.scoring": "Benchmarks {suites}: scoring base and tuned…",
    "bench.run.done": "Benchmarks {suites} scored ({at} UTC).",
    "bench.run.failed": "Benchmarks {suites} failed: {error}",
    "bench.run.cancel": "Cancel this request",
    "bench.run.cancelled": "Benchmarks {suites}: cancelled before a slot took them.",
}

ZH = {
    "phase.benchmarks": "基准测试",
    "bench.title": "基准测试（lm-evaluation-harness）",
    "bench.suite": "测试集", "bench.metric": "指标", "bench.stderr": "± 标准误",
    "bench.caption": "lm-eval {version}；每个任务最多 {limit} 行；基础模型与微调模型使用相同的提示和评分。± 为差值的标准误。"
                     "红色：微调后下降超过 {rule}。",
    "bench.rule_stderr": "其标准误", "bench.rule_threshold": "{threshold}（config.json 中的 benchmark_alarm_threshold）",
    "bench.alarm": "遗忘警报：微调模型在 {n} 个基准指标上低于基础模型。",
    "bench.drop": "**{suite}** · {metric}：{base} → {tuned}（−{drop}，超过 {limit}）",
    "bench.failed": "基准测试集 {suite} 无法评分：{reason}",
    "bench.badge": "⚠️ {suite} {drop}",
    "bench.section": "基准测试", "bench.none": "工作区中还没有基准测试。",
    "bench.how": "基准测试在训练后为基础模型和微调模型评分（任务的 `benchmarks` 参数）。上传 JSONL 文件：多项选择（问题、选项列表、"
                 "答案的序号或字母）或精确匹配（问题和答案；GSM8K 风格的 `#### n` 答案比较最后的数字）。能加载数据时，"
                 "任何 lm-eval 任务名（gsm8k、mmlu 等）也可使用。",
    "bench.name": "名称", "bench.kind": "类型", "bench.rows": "行数", "bench.shots": "少样本数",
    "bench.file": "JSONL 文件", "bench.q": "问题列", "bench.c": "选项列", "bench.a": "答案列",
    "bench.add": "注册基准测试", "bench.added": "已注册基准测试 {name}。",
    "bench.run.title": "在此训练上运行基准测试",
    "bench.run.suites": "测试集", "bench.run.pick": "选择工作区基准测试",
    "bench.run.help": "由 spooler 在一个槽位上（与导出相同）为基础模型和微调模型评分，分数加入此训练的评估。"
                      "与 `python -m spooler benchmark` 相同。",
    "bench.run.limit": "每个任务的行数", "bench.run.button": "排队运行基准测试",
    "bench.run.no_suites": "还没有可运行的工作区基准测试：请在基础模型页面注册。",
    "bench.run.waiting": "基准测试 {suites}：等待空闲槽位。",
    "bench.run.scoring": "基准测试 {suites}：正在为基础模型和微调模型评分…",
    "bench.run.done": "基准测试 {suites} 已评分（{at} UTC）。",
    "bench.run.failed": "基准测试 {suites} 失败：{error}",
    "bench.run.cancel": "取消此请求",
    "bench.run.cancelled": "基准测试 {suites}：在槽位接手前已取消。",
}

PARAM_HELP_ZH = {
    "benchmarks": "训练后为基础模型和微调模型评分的基准测试集（lm-evaluation-harness）：工作区基准测试"
                  "（python -m jobs benchmark list）或 lm-eval 任务名。",
    "benchmark_limit": "每个基准任务在每个模型上评分的行数。",
}
