"""The validator's messages and warnings in Chinese.

jobs/ writes its messages in English (the CLI, error files and logs read them). The dashboard shows them in the
viewer's language: each English message is matched against the templates below ("{}" stands for a value) and the
values are put into the Chinese template in order. tests/test_dashboard.py checks that every message text in
jobs/spec.py, jobs/params.py and jobs/methods.py has a template here.
"""
from __future__ import annotations

import re
from functools import lru_cache

from .i18n import current_lang

# (English template, Chinese template). More specific templates come before more general ones.
MESSAGES_ZH = [
    ("a spec may be at most 1 MiB", "任务描述最大为 1 MiB"),
    ("cannot read the file: {}", "无法读取文件：{}"),
    ("not valid JSON: nested too deeply", "不是有效的 JSON：嵌套过深"),
    ("not valid JSON: {}", "不是有效的 JSON：{}"),
    ("the spec is empty", "任务描述为空"),
    ("a spec must be a JSON object", "任务描述必须是 JSON 对象"),
    ("appears more than once in the file; keep one", "在文件中出现了不止一次；请只保留一个"),
    ("output_dir is managed by Tunedeck: every run writes to runs/<job_id>/adapter. Remove it from the spec.",
     "output_dir 由 Tunedeck 管理：每个任务都写入 runs/<job_id>/adapter。请从任务描述中删除它。"),
    ('training parameters belong inside "params"', '训练参数应放在 "params" 中'),
    ("unknown key; allowed: {}", "未知的键；允许：{}"),
    ("given twice (as an alias of {})", "重复给出（作为 {} 的别名）"),
    ("required: one of {}", "必填：可选 {}"),
    ("not a registered method; registered: {}", "不是已注册的方法；已注册：{}"),
    ("the custom method failed to load: {}", "自定义方法加载失败：{}"),
    ("required: the name of a registered {}", "必填：已注册的{}名称"),
    ("a spec names a registered {}, never a path; registered: {}. To add one, {}",
     "任务描述只能引用已注册的{}名称，不能是路径；已注册：{}。如需添加，{}"),
    ("no {} is registered under this name; registered: {}. To add one, {}",
     "没有以此名称注册的{}；已注册：{}。如需添加，{}"),
    ("must be a non-empty string of at most 120 characters without control characters",
     "必须是非空字符串，最多 120 个字符，且不含控制字符"),
    ("must be an integer from -1000 to 1000 (higher runs sooner)", "必须是 -1000 到 1000 之间的整数（越大越先运行）"),
    ("must be a job id", "必须是任务编号"),
    ("must not be empty", "不能为空"),
    ("must be a string of at most {} characters", "必须是最多 {} 个字符的字符串"),
    ("must be at most {} characters (it has {})", "最多 {} 个字符（现有 {} 个）"),
    ("must not contain control characters (found U+{})", "不能包含控制字符（发现 U+{}）"),
    ("must not contain line or paragraph separators (found U+{})", "不能包含行或段落分隔符（发现 U+{}）"),
    ("must not contain invisible formatting or text-direction characters (found U+{})",
     "不能包含不可见的格式或文字方向字符（发现 U+{}）"),
    ("must not contain unassigned, private-use or surrogate code points (found U+{})",
     "不能包含未分配、私用或代理码位（发现 U+{}）"),
    ("must contain at least one visible character", "必须至少包含一个可见字符"),
    ('must be the sweep record written by the spooler; submit a "sweep" instead',
     '必须是调度进程写入的扫描记录；请改为提交 "sweep"'),
    ("must be a list from: {}", "必须是以下列表中的值：{}"),
    ("must be a string", "必须是字符串"),
    ("must be a JSON object of parameter names to values", "必须是从参数名到值的 JSON 对象"),
    ("unknown parameter for method '{}'{}", "方法 '{}' 没有这个参数{}"),
    ("unknown parameter{}", "未知参数{}"),
    ("outside the typical range ({}); allowed, but check it", "超出常用范围（{}）；允许，但请确认"),
    ("must be ≤ max_seq_length ({})", "必须 ≤ max_seq_length（{}）"),
    ("ignored: max_steps is set and wins over epochs", "被忽略：已设置 max_steps，它优先于 epochs"),
    ("ignored: warmup_steps is set and wins", "被忽略：已设置 warmup_steps，它优先"),
    ("required: the name of a dataset column", "必填：数据集中的列名"),
    ("the method's check() raised {}: {}", "该方法的 check() 抛出了 {}：{}"),
    ("the dataset is empty; upload rows first", "数据集为空；请先上传数据行"),
    ("the dataset's first row cannot be read ({}), so its columns are unknown",
     "无法读取数据集的第一行（{}），因此无法得知它的列"),
    ("the dataset's first line is not a JSON object, so its columns are unknown",
     "数据集的第一行不是 JSON 对象，因此无法得知它的列"),
    ("no such column in dataset {}; its columns are: {}", "数据集 {} 中没有这一列；它的列有：{}"),
    ("is the same column as prompt_input_column: the model would learn to repeat its prompt",
     "与 prompt_input_column 是同一列：模型会学着重复提示"),
    ("longer than the context of model {}, {} tokens; sequences past {} tokens are cut or run past what the model "
     "was trained on (use ≤ {})",
     "超过模型 {} 的上下文长度（{} 个词元）；超过 {} 个词元的序列会被截断，或超出模型训练过的长度（请使用 ≤ {}）"),
    ("must be {}; null is not allowed", "必须是{}；不允许 null"),
    ("must be one of {}", "必须是以下之一：{}"),
    ("must be a list of names (or a comma-separated string)", "必须是名称列表（或逗号分隔的字符串）"),
    ("must be a list of numbers", "必须是数值列表"),
    ("must be {}", "必须是{}"),
    ("unsupported type", "不支持的类型"),
    ("GRPO compares samples within a group, so it needs at least 2", "GRPO 在组内比较采样结果，因此至少需要 2"),
    ("batch_size × grad_accum_steps ({} × {} = {}) must be a multiple of num_generations; try batch_size={} or "
     "num_generations={}",
     "batch_size × grad_accum_steps（{} × {} = {}）必须是 num_generations 的倍数；可尝试 batch_size={} 或 "
     "num_generations={}"),
    ("choose at least one of {}", "请至少选择以下之一：{}"),
    ("unknown reward function; registered: {}, or rm:<job id> of a finished reward model",
     "未知的奖励函数；已注册：{}，或 rm:<任务 ID>（已完成的奖励模型任务）"),
    ("unknown reward function; registered: {}", "未知的奖励函数；已注册：{}"),
    ("must be a user name (the job's owner is set at acceptance from who submitted it)",
     "必须是用户名（任务的所有者在接收时按提交者设定）"),
    ("needs one weight per reward function ({})", "每个奖励函数需要一个权重（{}）"),
    # jobs/team/auth.py: why a signed-in user may not do something (beside disabled controls, and at the click)
    ("you are not signed in", "您尚未登录"),
    ("only an admin may {} (admins: {})", "只有管理员可以{}（管理员：{}）"),
    ("only {} or an admin may {} this job", "只有 {} 或管理员可以{}此任务"),
    ("priority {} is above {}, the highest a user may set; ask an admin",
     "优先级 {} 高于用户可设置的最高值 {}；请联系管理员"),
    ("owner {}: only an admin or a service account may submit for another user ({} is neither; see "
     "auth.service_accounts in config.json)",
     "所有者 {}：只有管理员或服务账号可以代其他用户提交（{} 两者都不是；见 config.json 中的 auth.service_accounts）"),
]

# Pieces that appear inside the values of a message (allowed ranges, suggestions, how to register).
FRAGMENTS_ZH = [
    (re.compile(r"; did you mean (.+?)\?"), r"；是否想用 \1？"),
    (re.compile(r": line (\d+) column (\d+) \(char \d+\)"), r"（第 \1 行第 \2 列）"),
    (re.compile(r"register one by putting a Hugging Face model folder in workspace/models/<name>/, or by writing "
                r"workspace/models/<name>\.json with \{\"path\": \"/abs/path\"\} \(the Base models page does this\)"),
     '可以把 Hugging Face 模型目录放到 workspace/models/<名称>/，或写入 workspace/models/<名称>.json，内容为 '
     '{"path": "/abs/path"}（“基础模型”页面会代为完成）'),
    (re.compile(r"upload one on the Datasets page or copy a \.jsonl file into workspace/datasets/"),
     "可在“数据集”页面上传，或把 .jsonl 文件复制到 workspace/datasets/"),
    (re.compile(r"\ban integer\b"), "整数"), (re.compile(r"\ba number\b"), "数值"),
    (re.compile(r"true or false \(the strings \"true\"/\"false\" are accepted\)"), 'true 或 false（也接受字符串 "true"/"false"）'),
    (re.compile(r"\ba list of names\b"), "名称列表"), (re.compile(r"\ba list of numbers\b"), "数值列表"),
    (re.compile(r"\ba string\b"), "字符串"), (re.compile(r" and "), " 且 "), (re.compile(r"\bor null\b"), "或 null"),
    (re.compile(r"\bor (-?\d)"), r"或 \1"), (re.compile(r"\bone of\b"), "取值之一："),
    # the actions named in a refusal (jobs/team/auth.py OWNER_ACTIONS, ADMIN_ACTIONS, underscores as spaces)
    (re.compile(r"^cancel$"), "取消"), (re.compile(r"^retry$"), "重试"), (re.compile(r"^delete$"), "删除"),
    (re.compile(r"^hold$"), "暂停"), (re.compile(r"^release$"), "恢复"), (re.compile(r"^priority$"), "调整优先级"),
    (re.compile(r"^export$"), "导出"), (re.compile(r"^register$"), "注册"), (re.compile(r"^benchmark$"), "评测"),
    (re.compile(r"^settings$"), "修改设置"), (re.compile(r"^register model path$"), "按路径注册模型"),
    (re.compile(r"^register benchmark$"), "注册基准测试"), (re.compile(r"^register method$"), "注册方法"),
    (re.compile(r"^its owner$"), "其所有者"),
    (re.compile(r"^model$"), "模型"), (re.compile(r"^dataset$"), "数据集"), (re.compile(r"^none$"), "无"),
]


@lru_cache(maxsize=1)
def _compiled() -> list[tuple[re.Pattern, str]]:
    out = []
    for en, zh in MESSAGES_ZH:
        pattern = "(.*?)".join(re.escape(part) for part in en.split("{}"))
        out.append((re.compile(pattern + r"\Z", re.S), zh))
    return out


def _fragments(value: str) -> str:
    for pattern, repl in FRAGMENTS_ZH:
        value = pattern.sub(repl, value)
    return value


def translate_message(message: str, lang: str | None = None) -> str | None:
    """The Chinese text of a validator message, or None when no template matches."""
    for pattern, zh in _compiled():
        m = pattern.match(message)
        if m:
            return zh.format(*(_fragments(g) for g in m.groups()))
    return None


def tr_message(message) -> str:
    """A validator message in the viewer's language (English when no template matches)."""
    text = str(message)
    if current_lang() != "zh":
        return text
    return translate_message(text) or text
