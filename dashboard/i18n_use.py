"""UI strings of "Try it" and "Export", merged into dashboard/i18n.py's catalogs."""

EN = {
    "tab.use": "Try & export",
    "try.title": "Try it", "try.prompt": "Prompt", "try.system": "System prompt (optional)",
    "try.models": "Models that answer", "try.base": "Base model", "try.include_base": "The base model answers too",
    "try.max_new_tokens": "Max new tokens", "try.temperature": "Temperature", "try.top_p": "Top-p", "try.seed": "Seed",
    "try.greedy": "Greedy (no sampling)", "try.send": "Send",
    "try.needs_adapter": "Try it opens when the run has finished or stopped: it needs the run's adapter.",
    "try.none_answerable": "None of these jobs has an adapter yet, so none can answer prompts.",
    "try.status.waiting": "Waiting for a free slot…", "try.status.loading": "Loading the model…",
    "try.status.generating": "Generating…", "try.status.failed": "Failed: {error}",
    "try.status.waiting_training": "Waiting: trainings are queued and go first. This prompt is answered once no "
                                   "training waits for a slot.",
    "try.status.cancelled": "Cancelled.", "try.cancel": "Cancel this prompt",
    "try.timing": "{seconds:.2f} s · {tokens} tokens", "try.warm": "answered by a warm worker (no model load)",
    "try.loaded": "the worker loaded the model ({seconds:.1f} s)",
    "try.four_bit": "base loaded in 4-bit NF4, as this run was trained",
    "models.unregister_deletes": "This model's folder is in the workspace (models/{name}/): unregistering deletes it. "
                                 "A merged model's export stays in its job while the job exists.",
    "try.history": "History ({n})", "try.download": "Download history (JSONL)", "try.no_history": "No prompts yet.",
    "try.rule": "A warm worker keeps the base model (in 4-bit for runs trained in 4-bit) and the adapters it has "
                "used in memory on one slot and exits after {idle} idle. While a training waits, trainings go first: "
                "a worker finishes the answer in hand and gives its slot to the training, and new prompts wait.",
    "export.title": "Export", "export.button": "Export merged model",
    "export.what": "Merges the adapter into the base model and writes export/merged/ (safetensors, config, tokenizer, "
                   "chat template), an Ollama Modelfile, the vLLM command and a PEFT snippet.",
    "export.status.waiting": "Export queued: waiting for a free slot…", "export.status.exporting": "Merging…",
    "export.status.failed": "Export failed: {error}", "export.done": "Merged model ({dtype}, {size}):",
    "export.gguf": "Also write GGUF files (llama.cpp, Ollama)",
    "export.gguf_help": "f16 is llama.cpp's conversion of the merged model; q8_0 and q4_k_m are quantized from it. "
                        "Each file is loaded in llama.cpp and answers the run's first sample prompts greedily.",
    "export.gguf_title": "GGUF files (llama.cpp smoke check on this machine)",
    "export.gguf_failed": "No GGUF file was written: {error}. The merged model is exported.",
    "export.gguf_step": "Exporting: {step}…",
    "export.gguf_col.quant": "Quantization", "export.gguf_col.size": "Size (MiB)",
    "export.gguf_col.load": "Load (s)", "export.gguf_col.tps": "Tokens/s",
    "export.gguf_col.match": "Greedy match", "export.gguf_col.file": "File",
    "export.gguf_match_help": "Share of the first {n} greedy tokens equal to the merged model's own greedy answer "
                              "(transformers, {tps} tokens/s) on {prompts} prompt(s) from {source}.",
    "export.gguf_fallback": "{quant}: some tensors are not a multiple of 256 values wide, so llama.cpp stored them "
                            "as {types} instead of k-quants.",
    "export.gguf_file_failed": "{quant} failed: {error}",
    "export.gguf_none": "None: the merged model only",
    "export.again": "Export again", "export.modelfile": "Ollama Modelfile",
    "export.modelfile_help": "Save beside merged/ as Modelfile, then: ollama create {name} -f Modelfile",
    "export.vllm": "Serve the adapter with vLLM (no merge needed)", "export.peft": "Load base + adapter with PEFT",
    "export.register": "Register as a base model", "export.register_name": "New base model name",
    "export.register_button": "Register",
    "export.registered": "Registered as base model {name}, stored in workspace/models/{name}: it stays when this job "
                         "is deleted.",
    "export.registered_as": "Registered as base model: {names}",
    "export.train_on_it": "New training on {name}",
    "export.lineage": "Base model {model} came from job {job} ({method} of {base} on {dataset}).",
}

ZH = {
    "tab.use": "试用与导出",
    "try.title": "试一试", "try.prompt": "提示", "try.system": "系统提示（可选）",
    "try.models": "回答的模型", "try.base": "基础模型", "try.include_base": "基础模型也回答",
    "try.max_new_tokens": "最多生成词元数", "try.temperature": "温度", "try.top_p": "Top-p", "try.seed": "随机种子",
    "try.greedy": "贪心解码（不采样）", "try.send": "发送",
    "try.needs_adapter": "训练完成或停止后才能试用：需要这次训练的适配器。",
    "try.none_answerable": "这些任务都还没有适配器，无法回答提示。",
    "try.status.waiting": "正在等待空闲槽位…", "try.status.loading": "正在加载模型…",
    "try.status.generating": "正在生成…", "try.status.failed": "失败：{error}",
    "try.status.waiting_training": "正在等待：有排队的训练，训练优先。没有训练等待槽位时再回答这个提示。",
    "try.status.cancelled": "已取消。", "try.cancel": "取消这个提示",
    "try.timing": "{seconds:.2f} 秒 · {tokens} 个词元", "try.warm": "由常驻进程回答（未重新加载模型）",
    "try.loaded": "进程加载了模型（{seconds:.1f} 秒）",
    "try.four_bit": "基础模型以 4 位 NF4 加载，与这次训练相同",
    "models.unregister_deletes": "此模型的文件夹在工作区内（models/{name}/）：取消注册会删除它。"
                                 "合并模型的导出在其任务存在时仍保留在任务中。",
    "try.history": "历史（{n}）", "try.download": "下载历史（JSONL）", "try.no_history": "还没有提示。",
    "try.rule": "常驻进程在一个槽位上把基础模型（4 位训练的任务用 4 位加载）和用过的适配器保留在内存中，空闲 {idle} 后退出。"
                "有训练等待时训练优先：进程写完手头的回答后把槽位让给训练，新的提示等待。",
    "export.title": "导出", "export.button": "导出合并后的模型",
    "export.what": "把适配器合并进基础模型，写入 export/merged/（safetensors、配置、分词器、对话模板），"
                   "以及 Ollama Modelfile、vLLM 命令和 PEFT 代码片段。",
    "export.status.waiting": "导出已排队：正在等待空闲槽位…", "export.status.exporting": "正在合并…",
    "export.status.failed": "导出失败：{error}", "export.done": "合并后的模型（{dtype}，{size}）：",
    "export.gguf": "同时写出 GGUF 文件（llama.cpp、Ollama）",
    "export.gguf_help": "f16 是 llama.cpp 对合并模型的转换；q8_0 和 q4_k_m 由它量化而来。"
                        "每个文件都会在 llama.cpp 中加载，并用贪心解码回答这次训练的前几个样例提示。",
    "export.gguf_title": "GGUF 文件（在本机用 llama.cpp 做的冒烟检查）",
    "export.gguf_failed": "没有写出 GGUF 文件：{error}。合并后的模型已导出。",
    "export.gguf_step": "正在导出：{step}…",
    "export.gguf_col.quant": "量化", "export.gguf_col.size": "大小（MiB）",
    "export.gguf_col.load": "加载（秒）", "export.gguf_col.tps": "词元/秒",
    "export.gguf_col.match": "贪心一致率", "export.gguf_col.file": "文件",
    "export.gguf_match_help": "前 {n} 个贪心词元中与合并模型自身贪心回答（transformers，{tps} 词元/秒）相同的比例，"
                              "共 {prompts} 个提示，来自 {source}。",
    "export.gguf_fallback": "{quant}：部分张量的宽度不是 256 的倍数，llama.cpp 把它们存为 {types}，而不是 k-quant。",
    "export.gguf_file_failed": "{quant} 失败：{error}",
    "export.gguf_none": "不写：只导出合并后的模型",
    "export.again": "重新导出", "export.modelfile": "Ollama Modelfile",
    "export.modelfile_help": "保存为 merged/ 旁边的 Modelfile，然后运行：ollama create {name} -f Modelfile",
    "export.vllm": "用 vLLM 部署适配器（无需合并）", "export.peft": "用 PEFT 加载基础模型 + 适配器",
    "export.register": "注册为基础模型", "export.register_name": "新基础模型名称",
    "export.register_button": "注册",
    "export.registered": "已注册为基础模型 {name}，保存在 workspace/models/{name}：删除此任务后仍然保留。",
    "export.registered_as": "已注册为基础模型：{names}",
    "export.train_on_it": "在 {name} 上新建训练",
    "export.lineage": "基础模型 {model} 来自任务 {job}（在 {dataset} 上对 {base} 做 {method}）。",
}
