"""UI strings for how each run trains (finetuning type, sharding: #19) on Trainings and Compare, and Compare's
per-run action menu with the export (#22). Merged into dashboard/i18n.py."""
EN = {
    "col.kind": "Fine-tuning",
    "col.kind_help": "How the run trains: lora (an adapter on the frozen base) or full (every weight), then the "
                     "sharding when it is not none (fsdp: the model sharded across the job's GPUs).",
    "runs.kind": "Fine-tuning: {finetuning} · sharding: {sharding}",
    "runs.actions": "Actions",
    "runs.open_details": "Open details",
    "runs.export_done": "Exported: {path}",
    "runs.gguf_file": "GGUF {quant}: {name}, greedy match {match}",
}
ZH = {
    "col.kind": "微调方式",
    "col.kind_help": "运行的训练方式：lora（在冻结的基础模型上训练适配器）或 full（训练全部权重），"
                     "切分方式不是 none 时随后注明（fsdp：模型切分到任务的各块 GPU 上）。",
    "runs.kind": "微调方式：{finetuning} · 切分：{sharding}",
    "runs.actions": "操作",
    "runs.open_details": "打开详情",
    "runs.export_done": "已导出：{path}",
    "runs.gguf_file": "GGUF {quant}：{name}，贪心一致率 {match}",
}
