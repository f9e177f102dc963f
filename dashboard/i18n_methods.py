"""中文 for the methods added with #20 (KTO, ORPO, SimPO, continued pre-training, reward models): descriptions by
method name, and param help by the English help text (a param such as beta means something else in each method)."""
from __future__ import annotations

METHOD_DESC_ZH = {
    "kto": "KTO（Kahneman-Tversky 优化）：在标记为好或坏的答案上训练（prompt / completion / label）；"
           "偏好对按一个好答案和一个坏答案计。",
    "orpo": "ORPO（优势比偏好优化）：在提示 / 较优答案 / 较差答案上训练，把 SFT 与偏好合并为一个损失，无需参考模型。",
    "simpo": "SimPO（简单偏好优化）：在提示 / 较优答案 / 较差答案上训练，按长度归一化的奖励差，无需参考模型。",
    "cpt": "继续预训练：在原始文本的每个词元上计算语言模型损失（领域适配）。",
    "rm": "奖励模型：在基础模型上加一个打分头，用提示 / 较优答案 / 较差答案训练，使较优答案得分更高；"
          "可作为 GRPO 奖励函数（rm:<任务 ID>）。",
}

PARAM_HELP_ZH_BY_TEXT = {
    "Strength of the KTO loss: how far the model may move from the base (KTO beta).":
        "KTO 损失的强度：模型可以偏离基础模型多远（KTO beta）。",
    "Weight of the loss on good (label true) answers; raise it when good answers are rarer than bad ones.":
        "好答案（label 为 true）损失的权重；好答案比坏答案少时调高。",
    "Weight of the loss on bad (label false) answers; raise it when bad answers are rarer than good ones.":
        "坏答案（label 为 false）损失的权重；坏答案比好答案少时调高。",
    "Dataset field with the answer (unpaired data).": "包含答案的数据集字段（非成对数据）。",
    "Dataset field with true (good answer) or false (bad answer).": "取值为 true（好答案）或 false（坏答案）的数据集字段。",
    "Weight of the odds-ratio preference term beside the SFT loss (ORPO lambda).":
        "与 SFT 损失并列的优势比偏好项的权重（ORPO lambda）。",
    "Scale of the length-normalised reward (SimPO beta).": "按长度归一化的奖励的缩放系数（SimPO beta）。",
    "Target reward margin the chosen answer must win by over the rejected one (SimPO gamma).":
        "较优答案的奖励需要超过较差答案的目标差值（SimPO gamma）。",
    "Dataset field with the text to learn (any text column; with dataset_format text).":
        "包含要学习的文本的数据集字段（任意文本列；配合 dataset_format text 使用）。",
    "Pulls the mean score towards 0 (TRL's center_rewards_coefficient); null turns it off.":
        "把平均得分拉向 0（TRL 的 center_rewards_coefficient）；null 表示关闭。",
    "KL penalty against the base model.": "相对基础模型的 KL 惩罚（GRPO beta）。",
    "Strength of the preference loss (DPO beta).": "偏好损失的强度（DPO beta）。",
}
REWARD_FUNCTIONS_ZH_RM = "；rm:<任务 ID>：同一基础模型上已完成的奖励模型（rm）任务的打分。"


def _dataset_format_help() -> dict:
    from jobs.params import COMMON_PARAMS
    p = next(p for p in COMMON_PARAMS if p.name == "dataset_format")
    return {p.help: "数据行的读取方式：auto 根据前几行自动识别（或使用数据集页面设置的格式）；也可选 "
                    + "、".join(p.choices[1:]) + "。unpaired_preference 为标记好坏的答案（prompt / completion / "
                    "label），text 为原始文本（任意字符串列）。"}


PARAM_HELP_ZH_BY_TEXT.update(_dataset_format_help())


# What "base" means in a method's evaluation (the details page says it under the metrics table).
EN = {
    "evalm.base_is_untrained_head": "The base column is the base model with its new, untrained score head (random, "
                                    "seeded): a reward model's base scores are chance, so the tuned column is the one "
                                    "to read.",
    "evalm.base_is_reference": "The base model is this method's reference: its implicit rewards are 0 by definition, "
                               "so reward_margin and the accuracies start at 0.",
    "methods.traits": "Data: {formats} · output: {output} · headline: {headline} ({better}) · {reference}",
    "methods.output.generator": "an adapter that answers", "methods.output.scorer": "a reward model that scores",
    "methods.ref.base": "reference model: the base", "methods.ref.none": "no reference model",
    "try.scorer": "This run is a reward model: it scores answers instead of writing them. Give a prompt and an "
                  "answer, or two answers to see which one it prefers. It is also a GRPO reward function, "
                  "rm:{job_id}, on the same base model.",
    "new.converted.preference.unpaired_preference":
        "This dataset holds preference pairs (prompt / chosen / rejected). {method} trains on answers marked good "
        "or bad, so each pair becomes two rows: the chosen answer as desirable (label true), the rejected one as "
        "undesirable (label false) — {rows} pairs give {made} rows. The completion and label pickers apply to "
        "unpaired data only.",
    "try.scorers": "Reward models that score", "try.answer_a": "Answer A", "try.answer_b": "Answer B",
    "try.answer_b_optional": "Answer B (optional: to compare)",
    "try.score": "Score", "try.score_timing": "{seconds:.2f} s",
    "try.prefers": "Prefers {answer} by {margin:.4f}", "try.prefers_none": "Both answers score the same.",
}
ZH = {
    "evalm.base_is_untrained_head": "“基础”列是基础模型加上新的、未训练的打分头（随机初始化，固定种子）："
                                    "奖励模型的基础得分只是随机水平，应看“微调后”列。",
    "evalm.base_is_reference": "基础模型就是本方法的参考模型：它的隐式奖励按定义为 0，"
                               "因此 reward_margin 和各准确率从 0 开始。",
    "methods.traits": "数据：{formats} · 输出：{output} · 主指标：{headline}（{better}） · {reference}",
    "methods.output.generator": "生成答案的适配器", "methods.output.scorer": "给答案打分的奖励模型",
    "methods.ref.base": "参考模型：基础模型", "methods.ref.none": "无参考模型",
    "try.scorer": "此任务是奖励模型：它给答案打分而不生成答案。输入提示和一个答案，或两个答案以查看它更偏好哪一个。"
                  "它也可以在同一基础模型上用作 GRPO 奖励函数 rm:{job_id}。",
    "new.converted.preference.unpaired_preference":
        "此数据集是偏好对（prompt / chosen / rejected）。{method} 在标记为好或坏的答案上训练，因此每个偏好对变成两行："
        "较优答案为好答案（label 为 true），较差答案为坏答案（label 为 false）——{rows} 个偏好对得到 {made} 行。"
        "completion 和 label 列选择只用于非成对数据。",
    "try.scorers": "打分的奖励模型", "try.answer_a": "答案 A", "try.answer_b": "答案 B",
    "try.answer_b_optional": "答案 B（可选：用于比较）",
    "try.score": "打分", "try.score_timing": "{seconds:.2f} 秒",
    "try.prefers": "更偏好{answer}，高出 {margin:.4f}", "try.prefers_none": "两个答案得分相同。",
}
