"""UI strings for the memory estimate on the New training form (merged into dashboard/i18n.py)."""
EN = {
    "memory.title": "Estimated peak memory per {unit}: {total}",
    "memory.unit.gpu": "GPU", "memory.unit.cpu": "CPU process",
    "memory.weights": "Weights", "memory.gradients": "Gradients", "memory.optimizer": "Optimizer state (AdamW)",
    "memory.activations": "Activations", "memory.runtime": "Runtime (CUDA context / Python and libraries)",
    "memory.part": "Part", "memory.size": "Size",
    "memory.fits": "Fits in {what}.", "memory.exceeds": "Exceeds {what}: it will likely run out of memory. Try "
    "sharding=fsdp, load_in_4bit, gradient_checkpointing, or a smaller batch_size or max_seq_length.",
    "memory.unknown_limit": "The GPU memory of the slots is not known (no spooler with GPUs is running).",
    "memory.how": "An estimate for {world} process(es), batch_size × max_seq_length tokens per step.",
    "details.finetuning": "Finetuning", "details.sharding": "Sharding × processes",
    "details.model_size": "Model folder size",
}
ZH = {
    "memory.title": "每个{unit}的预计峰值内存：{total}",
    "memory.unit.gpu": "GPU", "memory.unit.cpu": "CPU 进程",
    "memory.weights": "权重", "memory.gradients": "梯度", "memory.optimizer": "优化器状态（AdamW）",
    "memory.activations": "激活", "memory.runtime": "运行时（CUDA 上下文 / Python 与库）",
    "memory.part": "部分", "memory.size": "大小",
    "memory.fits": "可放入{what}。", "memory.exceeds": "超出{what}：很可能内存不足。可尝试 sharding=fsdp、load_in_4bit、"
    "gradient_checkpointing，或减小 batch_size 或 max_seq_length。",
    "memory.unknown_limit": "不知道槽位的 GPU 内存（没有带 GPU 的调度器在运行）。",
    "memory.how": "按 {world} 个进程、每步 batch_size × max_seq_length 个词元估算。",
    "details.finetuning": "微调方式", "details.sharding": "切分 × 进程数", "details.model_size": "模型目录大小",
}
