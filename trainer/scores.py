"""Per-answer text metrics from maintained libraries: exact match, ROUGE-L (rouge-score), chrF and BLEU (sacrebleu).

Chinese and other CJK text: rouge-score's default tokenizer keeps only [a-z0-9] and would drop every Chinese
character, so ROUGE-L uses our tokenizer: each CJK character is one token, other text splits into lower-cased
words (no stemming). Character level needs no dictionary and gives the same tokens on every machine, unlike a jieba
segmentation that depends on its dictionary version. BLEU uses sacrebleu's "zh" tokenizer (CJK characters split,
13a for the rest); chrF is character-based already. chrF and BLEU are on sacrebleu's 0–100 scale, ROUGE-L and
exact match on 0–1.
"""
from __future__ import annotations

import re

_CJK = re.compile(r"([\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff\uff66-\uff9f])")
_WORD = re.compile(r"[^\W_]+")


def normalize(text: str) -> str:
    """Whitespace collapsed and trimmed: what exact match compares."""
    return " ".join(str(text).split())


def exact_match(prediction: str, reference: str) -> float:
    return float(normalize(prediction) == normalize(reference))


class MixedTokenizer:
    """rouge-score tokenizer: CJK characters one by one, other text as lower-cased words."""

    def tokenize(self, text: str) -> list[str]:
        return _WORD.findall(_CJK.sub(r" \1 ", str(text).lower()))


_scorer = None


def rouge_l(prediction: str, reference: str) -> float:
    """ROUGE-L F-measure (longest common subsequence of tokens)."""
    global _scorer
    if _scorer is None:
        from rouge_score import rouge_scorer
        _scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False, tokenizer=MixedTokenizer())
    if not MixedTokenizer().tokenize(reference) and not MixedTokenizer().tokenize(prediction):
        return 1.0
    return float(_scorer.score(reference, prediction)["rougeL"].fmeasure)


def chrf(prediction: str, reference: str) -> float:
    import sacrebleu
    return float(sacrebleu.sentence_chrf(prediction, [reference]).score)


def corpus_bleu(predictions: list[str], references: list[str]) -> float:
    import sacrebleu
    return float(sacrebleu.corpus_bleu(predictions, [references], tokenize="zh").score)


def mean(values: list[float]) -> float | None:
    vals = [float(v) for v in values if v is not None]
    return sum(vals) / len(vals) if vals else None
