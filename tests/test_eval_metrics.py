"""Evaluation metrics on small inputs with values worked out by hand."""
import math

import pytest

from jobs.evaluation import delta, headline, improved
from jobs.methods import BUILTINS
from trainer import evaluate, scores
from trainer.rewards import correctness, format_reward


def test_exact_match_normalizes_whitespace_only():
    assert scores.exact_match("  the  answer\nis 42 ", "the answer is 42") == 1.0
    assert scores.exact_match("The answer is 42", "the answer is 42") == 0.0   # case counts
    assert scores.exact_match("42.", "42") == 0.0


def test_rouge_l_english():
    # reference: the cat sat on the mat (6 tokens); prediction: the cat on the mat (5 tokens)
    # LCS = the cat on the mat = 5 -> P = 5/5, R = 5/6, F = 2PR/(P+R) = 10/11
    assert scores.rouge_l("The cat on the mat", "the cat sat on the mat") == pytest.approx(10 / 11)
    # tokens: a b c d vs d c b a: LCS 1 -> P = R = 1/4 -> F = 0.25
    assert scores.rouge_l("a b c d", "d c b a") == pytest.approx(0.25)


def test_rouge_l_chinese_is_character_level():
    # reference 今天天气很好 = 6 characters; prediction 今天天气不好 shares 今天天气好 (LCS 5) -> P = R = 5/6
    assert scores.rouge_l("今天天气不好", "今天天气很好") == pytest.approx(5 / 6)
    # no shared character -> 0 (the library's default tokenizer would see two empty strings here)
    assert scores.rouge_l("你好", "再见") == 0.0
    # mixed text: 我 爱 python (3 tokens) vs 我 爱 python 编 程 (5 tokens): LCS 3 -> P 1, R 3/5 -> F = 0.75
    assert scores.rouge_l("我爱Python", "我爱 python 编程") == pytest.approx(0.75)
    assert scores.MixedTokenizer().tokenize("GSM8K 第3题") == ["gsm8k", "第", "3", "题"]


def test_chrf_and_bleu_come_from_sacrebleu():
    assert scores.chrf("the same text", "the same text") == pytest.approx(100.0)
    assert scores.chrf("xyz", "abc") == pytest.approx(0.0)
    assert scores.corpus_bleu(["the cat sat on the mat"], ["the cat sat on the mat"]) == pytest.approx(100.0)
    assert 0 < scores.corpus_bleu(["今天天气很好"], ["今天天气不好"]) < 100


def grpo_setup(names):
    params = {"eval_max_rows": 100, "max_content_length": 16, "max_seq_length": 128, "reward_functions": names}
    rows = [{"prompt": "1+1?", "reference": "#### 2"}, {"prompt": "2+2?", "reference": "#### 4"},
            {"prompt": "3+3?", "reference": "#### 6"}]
    return evaluate.setup_for("grpo", params, rows, method_decl=BUILTINS["grpo"])


def test_grpo_reward_means_and_accuracy():
    s = grpo_setup(["correctness", "format"])
    answers = ["<reasoning>x</reasoning><answer>2</answer>", "#### 5", "<answer>6</answer>"]
    refs = [r["reference"] for r in s.rows]
    # correctness per row: 1, 0, 1 -> mean 2/3; format: 1.0, 0, 2 * 0.125 = 0.25 -> mean 1.25/3
    assert correctness(None, answers, reference=refs) == [1.0, 0.0, 1.0]
    assert format_reward(None, answers) == [1.0, 0.0, 0.25]
    per = {name: fn([r["prompt"] for r in s.rows], answers, refs) for name, fn in s.metric_fns.items()}
    result = {"answers": answers, "per_row": {**per, "accuracy": [float(v == 1.0) for v in per["reward_correctness"]],
                                             "completion_length": [10, 4, 6]}}
    agg = evaluate.aggregate(s, result)
    assert agg["reward_correctness"] == pytest.approx(2 / 3)
    assert agg["reward_format"] == pytest.approx(1.25 / 3)
    assert agg["accuracy"] == pytest.approx(2 / 3)
    assert agg["completion_length"] == pytest.approx(20 / 3)


def test_dpo_preference_accuracy_and_margin():
    params = {"eval_max_rows": 100, "max_content_length": 16, "max_seq_length": 128, "beta": 0.5}
    rows = [{"prompt": "p", "reference": "c", "chosen": "c", "rejected": "r"}] * 3
    s = evaluate.setup_for("dpo", params, rows, method_decl=BUILTINS["dpo"])
    base = {"answers": [""] * 3, "chosen_logp": [-10.0, -8.0, -5.0], "rejected_logp": [-9.0, -8.0, -6.0]}
    tuned = {"answers": [""] * 3, "chosen_logp": [-8.0, -9.0, -5.0], "rejected_logp": [-10.0, -7.0, -6.0]}
    # margins: beta * ((c - base_c) - (r - base_r)):
    #   row 1: 0.5 * ((-8 + 10) - (-10 + 9)) = 0.5 * 3 = 1.5
    #   row 2: 0.5 * ((-9 + 8) - (-7 + 8)) = 0.5 * -2 = -1.0
    #   row 3: 0.5 * (0 - 0) = 0
    agg = evaluate.aggregate(s, tuned, base)
    assert agg["reward_margin"] == pytest.approx((1.5 - 1.0 + 0) / 3)
    assert agg["preference_accuracy"] == pytest.approx(1 / 3)   # only row 1 is > 0
    assert agg["logprob_accuracy"] == pytest.approx(2 / 3)      # -8 > -10 and -5 > -6, not -9 > -7
    # the base is its own reference: margin 0 everywhere, so no pair is preferred by implicit reward
    b = evaluate.aggregate(s, base)
    assert b["reward_margin"] == 0 and b["preference_accuracy"] == 0
    assert b["logprob_accuracy"] == pytest.approx(1 / 3)        # only -5 > -6


def test_perplexity_is_exp_of_mean_token_nll():
    params = {"eval_max_rows": 2, "max_content_length": 16, "max_seq_length": 128}
    rows = [{"prompt": "a", "reference": "x y"}, {"prompt": "b", "reference": "z"}, {"prompt": "c", "reference": "w"}]
    s = evaluate.setup_for("sft", params, rows)
    assert len(s.rows) == 2  # eval_max_rows caps the rows
    result = {"answers": ["x y", "q"], "per_row": {"exact_match": [1.0, 0.0], "_nll": [[3.0, 2], [1.0, 1]]}}
    agg = evaluate.aggregate(s, result)
    assert agg["perplexity"] == pytest.approx(math.exp(4.0 / 3))
    assert agg["exact_match"] == 0.5 and agg["bleu"] == 0.0  # no 4-gram matches at all: corpus BLEU is 0


def test_eval_max_rows_zero_turns_evaluation_off():
    assert evaluate.setup_for("sft", {"eval_max_rows": 0}, [{"prompt": "a", "reference": "b"}]) is None


def test_delta_direction_and_headline():
    assert delta({"base": 0.2, "tuned": 0.5}) == pytest.approx(0.3)
    assert improved({"base": 0.2, "tuned": 0.5, "better": "higher"}) is True
    assert improved({"base": 8.0, "tuned": 9.0, "better": "lower"}) is False
    assert improved({"base": 1.0, "tuned": 1.0, "better": "lower"}) is None
    ev = {"metrics": {"rouge_l": {"base": 0.1, "tuned": 0.2}, "accuracy": {"base": 0, "tuned": 0.5}}}
    assert headline("grpo", ev)[0] == "accuracy" and headline("sft", ev)[0] == "rouge_l"


def test_reference_perplexity_scores_the_reference_as_trained(demo_home):
    """Only the reference's first max_content_length tokens are scored, as training cuts the answer there."""
    from trainer.logprobs import answer_logprobs
    from trainer.model import load_base, load_tokenizer
    folder = demo_home / "models" / "tiny-demo"
    tok, model = load_tokenizer(folder), load_base(folder, "tiny-demo", False)
    long_ref = " ".join(f"word{i}" for i in range(200))
    (full_sum, full_n), = answer_logprobs(model, tok, [("say it", long_ref)], 4096)
    (cut_sum, cut_n), = answer_logprobs(model, tok, [("say it", long_ref)], 4096, max_answer_tokens=16)
    assert cut_n == 16 < full_n
    assert cut_sum > full_sum  # fewer tokens, each log-probability ≤ 0: a smaller total loss
    s = evaluate.setup_for("sft", {"eval_max_rows": 1, "max_content_length": 16, "max_seq_length": 4096},
                           [{"prompt": "say it", "reference": long_ref}])
    result = evaluate.score_model(model, tok, s)
    assert result["per_row"]["_nll"][0] == [pytest.approx(-cut_sum, rel=1e-4), 16]
