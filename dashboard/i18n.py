"""Every UI string, one catalog per language. tests/test_i18n.py fails when a key is missing in either."""
from __future__ import annotations

import streamlit as st

from .safe import md

LANGUAGES = {"en": "English", "zh": "中文"}

EN = {
    "nav.trainings": "Trainings", "nav.new": "New training", "nav.details": "Training details",
    "nav.compare": "Compare", "nav.datasets": "Datasets", "nav.models": "Base models", "nav.methods": "Methods",
    "status.queued": "queued", "status.running": "running", "status.succeeded": "succeeded",
    "status.failed": "failed", "status.cancelled": "cancelled", "status.unknown": "unknown",
    "status.unreadable": "unreadable", "run.unreadable": "This run's files cannot be read, so it is not shown: {reason}",
    "spooler.down": "The spooler is not running: new jobs wait in the spool until it starts "
                    "(`python -m spooler`). Running jobs are not affected.",
    "trainings.title": "Trainings", "trainings.none_match": "No jobs match the filters.",
    "filter.status": "Status", "filter.method": "Method", "filter.model": "Base model", "filter.search": "Search",
    "filter.search_hint": "name, id, dataset…", "filter.any": "Any",
    "col.details": "Details", "col.name": "Name", "col.status": "Status", "col.progress": "Progress",
    "col.steps": "Steps", "col.eta": "ETA", "col.queue": "Queue #", "col.method": "Method", "col.model": "Base model",
    "col.dataset": "Dataset", "col.created": "Created", "col.duration": "Duration", "col.result": "Final loss / reward",
    "col.where": "Runs on", "where.pending": "waiting", "details.runner": "Runner", "details.slurm_job": "Slurm job",
    "details.nodes": "Nodes", "details.pending_reason": "Pending reason",
    "details.slurm_pending": "Waiting in Slurm: {reason}",
    "action.compare": "Compare", "action.details": "Details", "action.cancel": "Cancel", "action.retry": "Retry",
    "action.delete": "Delete",
    "toast.cancel_requested": "Cancel requested.", "toast.requeued": "Queued again.",
    "toast.cancel_requested_for": "Cancel requested: {names}", "toast.requeued_for": "Queued again: {names}",
    "cancel.confirm": "Cancel {n} job(s): {names}? Running jobs stop after their current step and keep a checkpoint.",
    "cancel.yes": "Yes, cancel", "cancel.no": "Keep them",
    "delete.confirm_named": "Delete {n} job(s) and all their files (adapter, checkpoints, logs): {names}? "
                            "This cannot be undone.",
    "spool.waiting": "Waiting for the spooler ({n})", "spool.waiting_help": "Specs in spool/incoming/ that the "
                     "spooler has not picked up yet. They are queued as soon as it runs.",
    "spool.rejected": "Recently rejected specs ({n})", "spool.dismiss": "Dismiss", "spool.dismiss_all": "Dismiss all",
    "spool.file": "File", "spool.reason": "Reason", "spool.time": "Time", "status.waiting": "waiting for the spooler",
    "delete.refused_running": "Cannot delete running jobs ({names}): cancel them first.",
    "delete.confirm": "Delete {n} job(s) and all their files (adapter, checkpoints, logs)? This cannot be undone.",
    "delete.yes": "Yes, delete",
    "firstrun.title": "Welcome to Tunedeck",
    "firstrun.body": "No trainings yet. The workspace at {home} holds the embedded demo: the `tiny-demo` model and "
                     "the datasets `demo-instruct` (SFT), `demo-math` (GRPO) and `demo-prefs` (DPO). Start a demo "
                     "training, or drop a JSON spec into `spool/incoming/`.",
    "firstrun.demo": "Start a demo SFT training",
    "new.title": "New training", "new.method": "Method", "new.model": "Base model", "new.dataset": "Dataset",
    "new.name": "Name", "new.priority": "Priority", "new.priority_help": "Higher runs sooner; equal priorities run in order.",
    "new.section.main": "Training parameters", "new.section.method": "Parameters of {method}",
    "new.section.advanced": "Advanced", "new.typical": "Typical",
    "new.errors": "{n} problem(s) to fix before this can run:", "new.spec_json": "Spec as JSON",
    "new.run": "Run training", "new.need_registry": "Register a base model and a dataset first.",
    "new.copy_of": "Copy of job {id}: every field is editable; the new job records it as its parent.",
    "new.copy_missing": "Job {id} does not exist, so there is nothing to copy.",
    "job.bad_id": "This link does not name a job: a job id looks like 20261128-053347-301791-b21ccd.",
    "new.copy_unavailable": "{value} is no longer registered; pick another.",
    "new.model_label": "{name} — {arch}, {size} params", "new.dataset_label": "{name} — {rows} rows: {columns}",
    "new.trunc_none": "No row is cut by these token caps (counted on the first {rows} rows with this model's tokenizer).",
    "new.trunc_chat_none": "No conversation is cut at MAX_SEQ_LENGTH {msl} (the first {rows}, rendered by this model's "
                           "chat template).",
    "new.trunc_chat_some": "About {cut} of the first {rows} conversations would lose their earliest turns at "
                           "MAX_SEQ_LENGTH {msl}, and {dropped} would be dropped (their last exchange alone is longer); "
                           "{pct:.1f} % in all, rendered by this model's chat template.",
    "new.trunc_some": "About {n} of the first {rows} rows ({pct:.1f} %) would be cut by these caps: {prompt} by "
                      "MAX_INPUT_LENGTH, {answer} by MAX_CONTENT_LENGTH, {total} by MAX_SEQ_LENGTH (an estimate with "
                      "this model's tokenizer; the chat template adds a few tokens).",
    "new.same_columns": "PROMPT_INPUT_COLUMN and PROMPT_OUTPUT_COLUMN are both {column}: choose the column with the "
                        "answers for PROMPT_OUTPUT_COLUMN.",
    "details.title": "Training details", "details.pick": "Open a job from the Trainings page.",
    "details.unknown": "There is no job with id {id}.",
    "details.submitted": "Submitted: waiting for the spooler to pick it up.",
    "details.no_state": "This run folder has no state.json yet.",
    "details.queue_position": "Queued, position {pos}", "details.started": "Started", "details.finished": "Finished",
    "details.host": "Host", "details.attempt": "Attempt", "details.adapter": "Adapter", "details.parent": "Parent job",
    "details.param": "Parameter", "details.value": "Value", "details.this": "This job",
    "details.changed_from_parent": "Changed from the parent", "details.compare_parent": "Compare with parent",
    "details.parent_missing": "The parent job {id} no longer exists.", "details.summary": "Summary",
    "details.copy": "Copy training", "details.final_loss": "final loss", "details.final_reward": "final reward",
    "details.last_loss": "last loss",
    "tab.overview": "Overview", "tab.evaluation": "Evaluation", "tab.logs": "Logs",
    "eval.no_metrics": "No metrics yet.", "eval.smoothing": "Smoothing (EMA)", "eval.samples": "Sample outputs",
    "eval.no_samples": "No sample outputs yet.", "eval.prompt": "Prompt", "eval.base": "Base model (before)",
    "eval.tuned": "Tuned model (after)", "eval.reference": "Reference",
    "evalm.title": "Held-out evaluation: base vs tuned", "evalm.none": "No evaluation yet: it is written when the "
    "tuned model has been scored (eval_max_rows 0 turns it off).", "evalm.metric": "Metric", "evalm.base": "Base",
    "evalm.tuned": "Tuned", "evalm.delta": "Δ (tuned − base)", "evalm.better": "Better", "evalm.higher": "higher",
    "evalm.lower": "lower", "evalm.caption": "{rows} held-out rows; decoding: {decoding}. Green: tuned is better.",
    "evalm.rows": "Per-row results", "evalm.row_metric": "Score", "evalm.worse_only": "Only rows that got worse",
    "evalm.rows_shown": "{n} of {total} rows", "evalm.base_score": "Base score", "evalm.tuned_score": "Tuned score",
    "phase.preparing_data": "preparing data", "phase.loading_model": "loading the model",
    "phase.base_evaluation": "base evaluation", "phase.training": "training", "phase.eval_loss": "eval loss",
    "phase.tuned_evaluation": "tuned evaluation", "phase.saving": "saving",
    "col.phase": "Phase", "col.eval": "Evaluation (Δ)",
    "compare.base_of": "base · {model}", "compare.sort_disagreement": "Sort by disagreement",
    "compare.eval_note": "Evaluation metrics (eval ·) compare the tuned models on their held-out rows; a base column "
    "appears once per base model and held-out result.",
    "logs.none": "No log yet.", "logs.levels": "Levels", "logs.search": "Search the log", "logs.lines": "Lines",
    "logs.empty": "(nothing matches)", "logs.download": "Download train.log",
    "compare.title": "Compare trainings", "compare.pick": "Select two or more jobs on the Trainings page and click Compare.",
    "compare.missing": "Not found (shown as missing): {ids}", "compare.params": "Parameters",
    "compare.diff_only": "Differences only", "compare.no_diff": "No differences.", "compare.metrics": "Metrics",
    "compare.x_axis": "X axis", "compare.x.step": "step", "compare.x.epoch": "epoch",
    "compare.x.elapsed": "elapsed time (s)", "compare.x.tokens": "tokens seen", "compare.log": "Log scale",
    "compare.final": "Final metrics",
    "compare.best_note": "Best value per row is highlighted (lower loss, higher reward), only among jobs whose "
                         "metric means the same thing: losses within one method, rewards with the same reward functions.",
    "compare.outputs": "Outputs", "compare.other_prompts": "{n} other prompt(s) differ between these jobs and are not shown.",
    "compare.export": "Export", "compare.csv": "Download CSV", "compare.html_prepare": "Build HTML report",
    "compare.html": "Download HTML report",
    "datasets.title": "Datasets", "datasets.upload": "Upload a JSONL dataset", "datasets.file": "JSONL file",
    "datasets.name": "Name", "datasets.register": "Validate and register",
    "datasets.invalid": "The file was not registered:", "datasets.registered": "Registered {name} ({rows} rows).",
    "datasets.none": "No datasets yet.", "datasets.rows": "rows", "datasets.tokenizer": "Tokenizer of",
    "datasets.column": "Column", "datasets.histogram": "Token-length histogram",
    "datasets.hist_stats": "{n} rows, longest {max} tokens, mean {mean:.1f}",
    "datasets.delete_confirm": "Delete dataset {name}? Jobs that already ran keep their results.",
    "datasets.format": "Format", "datasets.format_auto": "auto (detect from the first rows)",
    "datasets.format_detected": "detected", "datasets.format_override": "Read this dataset as",
    "datasets.format_saved": "Format set to {fmt}.",
    "datasets.stats": "Turns per row: min {min}, median {median}, max {max} · roles: {roles} · rows with tools: {tools}",
    "datasets.no_turns": "Single-turn rows · columns: {columns}",
    "models.title": "Base models", "models.register": "Register a local model folder", "models.name": "Name",
    "models.path": "Folder path, or a .gguf file to convert", "models.register_btn": "Check and register",
    "models.converting": "Converting the GGUF file into a Hugging Face folder…",
    "models.roots": "Only folders under these model roots can be registered here: {roots}. Add roots as "
                    "\"model_roots\" in workspace/config.json; anything else needs models/<name>.json from a shell.",
    "models.registered": "Registered {name}.", "models.none": "No models registered.",
    "models.arch": "Architecture", "models.params": "Parameters", "models.size": "Size on disk",
    "models.context": "Context length", "models.chat": "Chat template", "models.chat_fallback": "ChatML fallback",
    "models.unregister": "Unregister",
    "models.unregister_note": "Only the registration is removed; files outside the workspace stay.",
    "methods.title": "Methods", "methods.template": "Download the custom-method template",
    "methods.howto": "Save a custom method as {path}/<name>.py; it appears here and in New training.",
    "methods.builtin": "built-in", "methods.custom": "custom", "methods.limits": "Allowed",
    "methods.defaults": "Defaults", "methods.rewards": "GRPO reward functions",
    "methods.type": "Type", "methods.default": "Default", "methods.help": "Help", "methods.name": "Name",
    "methods.source": "Source",
}

ZH = {
    "nav.trainings": "训练列表", "nav.new": "新建训练", "nav.details": "训练详情", "nav.compare": "对比",
    "nav.datasets": "数据集", "nav.models": "基础模型", "nav.methods": "训练方法",
    "status.queued": "排队中", "status.running": "运行中", "status.succeeded": "成功", "status.failed": "失败",
    "status.cancelled": "已取消", "status.unknown": "未知",
    "status.unreadable": "无法读取", "run.unreadable": "该任务的文件无法读取，因此不予显示：{reason}",
    "spooler.down": "调度守护进程未运行：新任务会留在投递目录中，直到它启动（`python -m spooler`）。正在运行的任务不受影响。",
    "trainings.title": "训练列表", "trainings.none_match": "没有符合筛选条件的任务。",
    "filter.status": "状态", "filter.method": "方法", "filter.model": "基础模型", "filter.search": "搜索",
    "filter.search_hint": "名称、编号、数据集…", "filter.any": "全部",
    "col.details": "详情", "col.name": "名称", "col.status": "状态", "col.progress": "进度", "col.steps": "步数",
    "col.eta": "剩余时间", "col.queue": "队列位置", "col.method": "方法", "col.model": "基础模型", "col.dataset": "数据集",
    "col.created": "创建时间", "col.duration": "耗时", "col.result": "最终损失 / 奖励",
    "col.where": "运行位置", "where.pending": "等待中", "details.runner": "运行器", "details.slurm_job": "Slurm 作业",
    "details.nodes": "节点", "details.pending_reason": "等待原因",
    "details.slurm_pending": "在 Slurm 中等待：{reason}",
    "action.compare": "对比", "action.details": "详情", "action.cancel": "取消", "action.retry": "重试",
    "action.delete": "删除",
    "toast.cancel_requested": "已请求取消。", "toast.requeued": "已重新排队。",
    "toast.cancel_requested_for": "已请求取消：{names}", "toast.requeued_for": "已重新排队：{names}",
    "cancel.confirm": "取消 {n} 个任务：{names}？运行中的任务会在当前步结束后停止并保留检查点。",
    "cancel.yes": "确认取消", "cancel.no": "保留",
    "delete.confirm_named": "删除 {n} 个任务及其全部文件（适配器、检查点、日志）：{names}？此操作无法撤销。",
    "spool.waiting": "等待调度进程（{n}）", "spool.waiting_help": "spool/incoming/ 中尚未被调度进程接收的任务描述，"
                     "它一运行就会排队。",
    "spool.rejected": "最近被拒绝的任务描述（{n}）", "spool.dismiss": "忽略", "spool.dismiss_all": "全部忽略",
    "spool.file": "文件", "spool.reason": "原因", "spool.time": "时间", "status.waiting": "等待调度进程",
    "delete.refused_running": "无法删除运行中的任务（{names}）：请先取消。",
    "delete.confirm": "删除 {n} 个任务及其全部文件（适配器、检查点、日志）？此操作无法撤销。",
    "delete.yes": "确认删除",
    "firstrun.title": "欢迎使用 Tunedeck",
    "firstrun.body": "还没有训练任务。位于 {home} 的工作区已包含内置演示：`tiny-demo` 模型，以及数据集 "
                     "`demo-instruct`（SFT）、`demo-math`（GRPO）和 `demo-prefs`（DPO）。可以开始一个演示训练，"
                     "或把 JSON 任务描述放入 `spool/incoming/`。",
    "firstrun.demo": "开始演示 SFT 训练",
    "new.title": "新建训练", "new.method": "方法", "new.model": "基础模型", "new.dataset": "数据集", "new.name": "名称",
    "new.priority": "优先级", "new.priority_help": "数值越大越先运行；相同优先级按提交顺序运行。",
    "new.section.main": "训练参数", "new.section.method": "{method} 的参数", "new.section.advanced": "高级",
    "new.typical": "常用值", "new.errors": "需要先修正 {n} 个问题：", "new.spec_json": "任务描述（JSON）",
    "new.run": "开始训练", "new.need_registry": "请先注册基础模型和数据集。",
    "new.copy_of": "复制自任务 {id}：所有字段均可修改，新任务会记录其父任务。",
    "new.copy_missing": "任务 {id} 不存在，无法复制。",
    "job.bad_id": "此链接没有指向任何任务：任务编号形如 20261128-053347-301791-b21ccd。",
    "new.copy_unavailable": "{value} 已不再注册，请另选。",
    "new.model_label": "{name} — {arch}，{size} 参数", "new.dataset_label": "{name} — {rows} 行：{columns}",
    "new.trunc_none": "这些词元上限不会截断任何行（用该模型的分词器统计前 {rows} 行）。",
    "phase.eval_loss": "验证损失",
    "new.trunc_chat_none": "在 MAX_SEQ_LENGTH {msl} 下没有对话被截断（前 {rows} 个对话，按该模型的对话模板渲染）。",
    "new.trunc_chat_some": "前 {rows} 个对话中约有 {cut} 个会在 MAX_SEQ_LENGTH {msl} 处丢掉最早的轮次，{dropped} 个会被丢弃"
                           "（仅最后一轮就更长）；合计 {pct:.1f}%，按该模型的对话模板渲染。",
    "new.trunc_some": "前 {rows} 行中约有 {n} 行（{pct:.1f}%）会被截断：{prompt} 行超过 MAX_INPUT_LENGTH，{answer} 行超过 "
                      "MAX_CONTENT_LENGTH，{total} 行超过 MAX_SEQ_LENGTH（用该模型的分词器估算；对话模板还会增加少量词元）。",
    "new.same_columns": "PROMPT_INPUT_COLUMN 和 PROMPT_OUTPUT_COLUMN 都是 {column}：请为 PROMPT_OUTPUT_COLUMN 选择包含答案的列。",
    "details.title": "训练详情", "details.pick": "请从训练列表打开一个任务。", "details.unknown": "不存在编号为 {id} 的任务。",
    "details.submitted": "已提交：等待调度进程接收。", "details.no_state": "该运行目录尚无 state.json。",
    "details.queue_position": "排队中，第 {pos} 位", "details.started": "开始时间", "details.finished": "结束时间",
    "details.host": "主机", "details.attempt": "尝试次数", "details.adapter": "适配器", "details.parent": "父任务",
    "details.param": "参数", "details.value": "值", "details.this": "本任务",
    "details.changed_from_parent": "相对父任务的改动", "details.compare_parent": "与父任务对比",
    "details.parent_missing": "父任务 {id} 已不存在。", "details.summary": "摘要", "details.copy": "复制训练",
    "details.final_loss": "最终损失", "details.final_reward": "最终奖励", "details.last_loss": "最新损失",
    "tab.overview": "概览", "tab.evaluation": "评估", "tab.logs": "日志",
    "eval.no_metrics": "暂无指标。", "eval.smoothing": "平滑（EMA）", "eval.samples": "样例输出",
    "eval.no_samples": "暂无样例输出。", "eval.prompt": "提示", "eval.base": "基础模型（训练前）",
    "eval.tuned": "微调模型（训练后）", "eval.reference": "参考答案",
    "evalm.title": "留出集评估：基础模型与微调模型",
    "evalm.none": "暂无评估：微调模型评分完成后写入（eval_max_rows 为 0 时关闭）。",
    "evalm.metric": "指标", "evalm.base": "基础", "evalm.tuned": "微调后", "evalm.delta": "Δ（微调后 − 基础）",
    "evalm.better": "更优方向", "evalm.higher": "越高越好", "evalm.lower": "越低越好",
    "evalm.caption": "{rows} 条留出数据；解码：{decoding}。绿色表示微调后更好。", "evalm.rows": "逐行结果",
    "evalm.row_metric": "评分", "evalm.worse_only": "只看变差的行", "evalm.rows_shown": "{n} / {total} 行",
    "evalm.base_score": "基础得分", "evalm.tuned_score": "微调后得分",
    "phase.preparing_data": "准备数据", "phase.loading_model": "加载模型", "phase.base_evaluation": "基础模型评估",
    "phase.training": "训练", "phase.tuned_evaluation": "微调模型评估", "phase.saving": "保存",
    "col.phase": "阶段", "col.eval": "评估（Δ）",
    "compare.base_of": "基础 · {model}", "compare.sort_disagreement": "按分歧程度排序",
    "compare.eval_note": "评估指标（eval ·）在各自的留出数据上比较微调后的模型；每个基础模型及其留出结果只显示一列基础值。",
    "logs.none": "暂无日志。", "logs.levels": "级别", "logs.search": "搜索日志", "logs.lines": "行数",
    "logs.empty": "（无匹配内容）", "logs.download": "下载 train.log",
    "compare.title": "对比训练", "compare.pick": "在训练列表中选择两个或更多任务，然后点击“对比”。",
    "compare.missing": "未找到（标记为缺失）：{ids}", "compare.params": "参数", "compare.diff_only": "仅显示差异",
    "compare.no_diff": "没有差异。", "compare.metrics": "指标", "compare.x_axis": "横轴", "compare.x.step": "步数",
    "compare.x.epoch": "轮次", "compare.x.elapsed": "耗时（秒）", "compare.x.tokens": "已训练词元数",
    "compare.log": "对数刻度", "compare.final": "最终指标",
    "compare.best_note": "每行最佳值已高亮（损失越低越好，奖励越高越好），只在含义相同的任务之间比较："
                          "损失只在同一方法内比较，奖励只在奖励函数相同时比较。", "compare.outputs": "输出",
    "compare.other_prompts": "另有 {n} 个提示在这些任务之间不同，未显示。", "compare.export": "导出",
    "compare.csv": "下载 CSV", "compare.html_prepare": "生成 HTML 报告", "compare.html": "下载 HTML 报告",
    "datasets.title": "数据集", "datasets.upload": "上传 JSONL 数据集", "datasets.file": "JSONL 文件",
    "datasets.name": "名称", "datasets.register": "校验并注册", "datasets.invalid": "文件未注册：",
    "datasets.registered": "已注册 {name}（{rows} 行）。", "datasets.none": "暂无数据集。", "datasets.rows": "行",
    "datasets.tokenizer": "使用分词器", "datasets.column": "列", "datasets.histogram": "词元长度直方图",
    "datasets.hist_stats": "{n} 行，最长 {max} 个词元，平均 {mean:.1f}",
    "datasets.delete_confirm": "删除数据集 {name}？已运行任务的结果会保留。",
    "datasets.format": "格式", "datasets.format_auto": "auto（根据前几行自动识别）",
    "datasets.format_detected": "自动识别", "datasets.format_override": "按此格式读取数据集",
    "datasets.format_saved": "格式已设为 {fmt}。",
    "datasets.stats": "每行轮数：最少 {min}，中位数 {median}，最多 {max} · 角色：{roles} · 含工具的行：{tools}",
    "datasets.no_turns": "单轮数据 · 列：{columns}",
    "models.title": "基础模型", "models.register": "注册本地模型目录", "models.name": "名称",
    "models.path": "目录路径，或要转换的 .gguf 文件",
    "models.converting": "正在把 GGUF 文件转换为 Hugging Face 目录…",
    "models.roots": "此处只能注册以下模型根目录中的文件夹：{roots}。可在 workspace/config.json 的 \"model_roots\" 中添加根目录；"
                    "其他位置需在命令行中编写 models/<名称>.json。",
    "models.register_btn": "检查并注册", "models.registered": "已注册 {name}。", "models.none": "尚未注册模型。",
    "models.arch": "架构", "models.params": "参数量", "models.size": "磁盘占用", "models.context": "上下文长度",
    "models.chat": "对话模板", "models.chat_fallback": "使用 ChatML 备用模板", "models.unregister": "取消注册",
    "models.unregister_note": "只移除注册信息；工作区外的文件不会被删除。",
    "methods.title": "训练方法", "methods.template": "下载自定义方法模板",
    "methods.howto": "把自定义方法保存为 {path}/<名称>.py，它会出现在这里和新建训练中。",
    "methods.builtin": "内置", "methods.custom": "自定义", "methods.limits": "允许范围", "methods.defaults": "默认值",
    "methods.type": "类型", "methods.default": "默认", "methods.help": "说明", "methods.name": "名称", "methods.source": "来源",
    "methods.rewards": "GRPO 奖励函数",
}

from .i18n_sweeps import EN as _EN_SWEEPS  # noqa: E402 - sweeps, groups, steering, settings
from .i18n_sweeps import ZH as _ZH_SWEEPS  # noqa: E402

EN.update(_EN_SWEEPS)
ZH.update(_ZH_SWEEPS)
from .i18n_use import EN as _USE_EN  # noqa: E402 - try it and export live in their own catalog
from .i18n_use import ZH as _USE_ZH  # noqa: E402

EN.update(_USE_EN)
ZH.update(_USE_ZH)
from .i18n_data import EN as _DATA_EN  # noqa: E402 - chat datasets: prompt conversations, token lengths
from .i18n_data import ZH as _DATA_ZH  # noqa: E402

EN.update(_DATA_EN)
ZH.update(_DATA_ZH)
from .i18n_details import EN as _DETAILS_EN  # noqa: E402 - a run's ids, queue place, why Try/Export are closed
from .i18n_details import ZH as _DETAILS_ZH  # noqa: E402

EN.update(_DETAILS_EN)
ZH.update(_DETAILS_ZH)
from .i18n_display import EN as _DISPLAY_EN  # noqa: E402 - durations, chart axes, the job picker, dataset columns
from .i18n_display import ZH as _DISPLAY_ZH  # noqa: E402

EN.update(_DISPLAY_EN)
ZH.update(_DISPLAY_ZH)
from .i18n_methods import EN as _METHODS_EN  # noqa: E402 - KTO, ORPO, SimPO, CPT, reward models (#20)
from .i18n_methods import ZH as _METHODS_ZH  # noqa: E402

EN.update(_METHODS_EN)
ZH.update(_METHODS_ZH)
from .i18n_memory import EN as _MEMORY_EN  # noqa: E402 - the memory estimate (#19)
from .i18n_memory import ZH as _MEMORY_ZH  # noqa: E402

EN.update(_MEMORY_EN)
ZH.update(_MEMORY_ZH)
from .i18n_team import EN as _TEAM_EN  # noqa: E402 - team use: users, owners, refusals, the audit trail (#23)
from .i18n_team import ZH as _TEAM_ZH  # noqa: E402

EN.update(_TEAM_EN)
ZH.update(_TEAM_ZH)
from .i18n_runs import EN as _RUNS_EN  # noqa: E402 - how a run trains, Compare's run menu (#19, #22)
from .i18n_runs import ZH as _RUNS_ZH  # noqa: E402

EN.update(_RUNS_EN)
ZH.update(_RUNS_ZH)
CATALOGS = {"en": EN, "zh": ZH}


def t(key: str, **kw) -> str:
    """The text of `key` in the viewer's language. Values filled in are shown as text (names, ids and paths
    come from users), never read as Markdown: the catalog's own Markdown is the only Markdown."""
    lang = st.session_state.get("lang", "en") if _has_session() else "en"
    text = CATALOGS.get(lang, EN).get(key) or EN.get(key) or key
    return text.format(**{k: md(v) if isinstance(v, str) else v for k, v in kw.items()}) if kw else text


def keep_language(changed: bool = False) -> None:
    """The language lives in the session and in the URL (?lang=zh), so a reload, a bookmark or a link opened in a
    new tab keeps it. English, the default, leaves the URL clean."""
    if not changed and "lang" not in st.session_state:
        wanted = st.query_params.get("lang")
        st.session_state["lang"] = wanted if wanted in LANGUAGES else "en"
    lang = st.session_state.get("lang", "en")
    if lang != "en" and st.query_params.get("lang") != lang:
        st.query_params["lang"] = lang
    elif lang == "en" and "lang" in st.query_params:
        del st.query_params["lang"]


def lang_param() -> str:
    """"&lang=zh" for links the dashboard builds, "" in English."""
    lang = current_lang()
    return f"&lang={lang}" if lang != "en" else ""


def current_lang() -> str:
    return st.session_state.get("lang", "en") if _has_session() else "en"


def t_text(key: str, _lang: str | None = None, **kw) -> str:
    """Like t(), for places that show plain text (table cells, dropdown options): values are filled in as they are.
    `_lang` fixes the language for format_func callbacks that may run after the page (see bound_t)."""
    lang = _lang or (st.session_state.get("lang", "en") if _has_session() else "en")
    text = CATALOGS.get(lang, EN).get(key) or EN.get(key) or key
    return text.format(**kw) if kw else text


def bound_t():
    """A translator fixed to the current language, for format_func callbacks that may run later."""
    lang = st.session_state.get("lang", "en") if _has_session() else "en"
    return lambda key: CATALOGS.get(lang, EN).get(key) or EN.get(key) or key


def _has_session() -> bool:
    try:
        return st.runtime.exists()
    except Exception:  # noqa: BLE001
        return False


# Chinese help for the declared params; English comes from the declarations themselves (jobs/params.py, jobs/methods.py).
PARAM_HELP_ZH = {
    "lora_rank": "LoRA 矩阵的秩。", "load_in_4bit": "在 4 位（NF4）量化的基础模型上训练（QLoRA）。",
    "finetuning_type": "lora 在冻结的基础模型上训练小型适配器（配合 load_in_4bit 即 QLoRA），写入 runs/<id>/adapter/；"
                       "full 训练全部权重，写入完整模型目录 runs/<id>/model/。",
    "sharding": "num_gpus × num_nodes > 1 时：none 在每块 GPU 上保留完整的模型、梯度和优化器状态（DDP）；"
                "fsdp 把它们切分到各 GPU 上（PyTorch FSDP，按解码层包装）。",
    "gradient_checkpointing": "反向传播时重新计算激活而不保存：激活内存更少，计算量约多三分之一。",
    "packing": "SFT：把多行放进同一序列，行与行之间不互相注意（无填充，位置编号每行重新开始），不在填充上浪费计算。"
               "适用于 GPU 上的 FlashAttention；在 CPU 上实测并不更快。",
    "use_liger_kernel": "Liger 的融合 Triton 内核（RMSNorm、RoPE、SwiGLU、融合交叉熵）：更省 GPU 内存。"
                        "需要安装 liger-kernel 并在 GPU 上运行。",
    "max_seq_length": "模型看到的最长序列（词元数）。", "max_input_length": "提示的词元上限。",
    "max_content_length": "答案 / 生成内容的词元上限。", "max_samples": "从数据集读取的行数；-1 表示全部。",
    "num_generations": "每个提示的采样数（GRPO 奖励分组；样例输出）。", "max_grad_norm": "梯度裁剪范数。",
    "epochs": "遍历数据的轮数；仅在未设置 max_steps 时使用。", "max_steps": "优化总步数；设置后优先于 epochs。",
    "batch_size": "每个设备每批的样本数。", "grad_accum_steps": "梯度累积步数。", "learning_rate": "初始学习率。",
    "warmup_steps": "预热步数；设置后优先于 warmup_ratio。", "warmup_ratio": "用于预热的步数比例。",
    "prompt_input_column": "作为提示的数据集字段。", "prompt_output_column": "作为参考答案的数据集字段。",
    "eval_ratio": "留出用于 eval_loss 和样例提示的比例；0 表示关闭。",
    "num_sample_prompts": "训练前后都要回答的留出提示数量。",
    "sample_generations": "每个样例提示的回答数：一个贪心回答，大于 1 时另加采样回答。",
    "eval_max_rows": "由基础模型和微调后模型评分的留出行数（任务指标）；0 表示关闭评估。",
    "seed": "数据划分、初始化和采样的随机种子。",
    "logging_steps": "每 N 步写一行指标。", "checkpoint_steps": "每 N 步保存一个可恢复的检查点。",
    "save_total_limit": "保留的检查点数量；更早的会被删除。", "lora_alpha": "LoRA alpha；null 表示 2 × lora_rank。",
    "lora_dropout": "LoRA 层上的 dropout。",
    "num_gpus": "本任务每个节点使用的 GPU 数（无 GPU 的机器上为 CPU 进程数）；大于 1 时用 torchrun 数据并行训练，"
                "并占用同样多的 spooler 槽位。",
    "num_nodes": "本任务使用的机器数；大于 1 需要 spooler 的 Slurm 运行器。",
    "prompt_context_column": "数据集中存在时附加到提示后的可选字段（Alpaca 的 input）。",
    "reward_functions": "按名称选择奖励函数：correctness（与参考答案的数字一致）、format（<reasoning>/<answer> 格式）、"
                        "length_penalty（长度惩罚），以及自定义函数。",
    "reward_weights": "每个奖励函数一个权重；null 表示等权。", "beta": "KL 惩罚（GRPO）或偏好损失强度（DPO beta）。",
    "temperature": "生成采样温度。", "chosen_column": "包含较优答案的数据集字段。",
    "rejected_column": "包含较差答案的数据集字段。",
    "dataset_format": "数据行的读取方式：auto 根据前几行自动识别（或使用数据集页面设置的格式）；也可选 column、alpaca、"
                      "messages、sharegpt 或 preference。",
    "system_prompt": "为每个没有系统消息的对话前置的系统消息；样例提示同样使用。",
    "eval_split_max_rows": "无论数据多大，最多评估这么多留出行。",
    "eval_steps": "每 N 步评估一次；null 表示每次运行评估四次，且间隔不少于 10 步。",
    "report_to": "同时接收本次训练指标的实验跟踪工具；TensorBoard 写入 runs/<job_id>/tb/。",
}


def param_help(param) -> str:
    from .i18n_methods import PARAM_HELP_ZH_BY_TEXT, REWARD_FUNCTIONS_ZH_RM
    if st.session_state.get("lang") == "zh" and _has_session():
        if param.help in PARAM_HELP_ZH_BY_TEXT:  # a param whose meaning depends on the method (beta)
            return PARAM_HELP_ZH_BY_TEXT[param.help]
        if param.name in PARAM_HELP_ZH:
            return PARAM_HELP_ZH[param.name] + (REWARD_FUNCTIONS_ZH_RM if param.name == "reward_functions" else "")
    return param.help

METHOD_DESC_ZH = {
    "sft": "监督微调：在“提示 → 答案”数据上训练，只对答案计算损失。",
    "grpo": "组相对策略优化（GRPO）：对答案采样，用奖励函数打分并学习。",
    "dpo": "直接偏好优化（DPO）：在提示 / 较优答案 / 较差答案三元组上训练。",
}


REWARD_HELP_ZH = {
    "correctness": "答案中的数字与参考答案（GSM8K 的“#### n”形式）一致时为 1.0，否则为 0。",
    "format": "符合 <reasoning>…</reasoning><answer>…</answer> 格式得 1.0，部分符合得部分分。",
    "length_penalty": "随生成长度增加的负奖励（0 到 -1）。",
}


def reward_help(name: str, value) -> str:
    """A reward function's description: built-ins in the viewer's language, custom ones from their docstring."""
    if not isinstance(value, str):
        return (getattr(value, "__doc__", None) or "").strip()
    return REWARD_HELP_ZH.get(name, value) if current_lang() == "zh" else value


def method_description(method) -> str:
    from .i18n_methods import METHOD_DESC_ZH as MORE
    zh = {**METHOD_DESC_ZH, **MORE}
    if method.builtin and method.name in zh and _has_session() and st.session_state.get("lang") == "zh":
        return zh[method.name]
    return method.description


from .i18n_bench import EN as _BENCH_EN  # noqa: E402 - benchmarks and the forgetting alarm (#21)
from .i18n_bench import PARAM_HELP_ZH as _BENCH_PARAMS_ZH  # noqa: E402
from .i18n_bench import ZH as _BENCH_ZH  # noqa: E402

EN.update(_BENCH_EN)
ZH.update(_BENCH_ZH)
PARAM_HELP_ZH.update(_BENCH_PARAMS_ZH)
