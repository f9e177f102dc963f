"""Small benchmarks we make (never a hub): world capitals as multiple choice, GSM8K-style sums as exact match."""
from jobs.__main__ import main as jobs_main
from tests.conftest import write_jsonl

CAPITALS = [("France", "Paris"), ("Japan", "Tokyo"), ("Italy", "Rome"), ("Germany", "Berlin"), ("Spain", "Madrid"),
            ("England", "London"), ("Russia", "Moscow"), ("China", "Beijing"), ("Egypt", "Cairo"),
            ("Greece", "Athens"), ("Portugal", "Lisbon"), ("Austria", "Vienna"), ("Ireland", "Dublin"),
            ("Norway", "Oslo"), ("Poland", "Warsaw"), ("Sweden", "Stockholm")]
DECOYS = ["Lyon", "Osaka", "Milan", "Munich", "Seville", "Manchester", "Kazan", "Shanghai", "Alexandria",
          "Sparta", "Porto", "Salzburg", "Cork", "Bergen", "Krakow", "Gothenburg"]
PAIRS = [(1, 2), (3, 4), (5, 6), (2, 2), (7, 1), (3, 3), (4, 5), (6, 2)]


def capitals(n: int = 16) -> list[dict]:
    """'What is the capital of France?' with four choices; the answer alternates between a letter and an index."""
    rows = []
    for i, (country, capital) in enumerate((CAPITALS * (n // len(CAPITALS) + 1))[:n]):
        wrong = [DECOYS[(i + k) % len(DECOYS)] for k in (0, 5, 11)]
        pos = i % 4
        choices = wrong[:pos] + [capital] + wrong[pos:]
        rows.append({"question": f"What is the capital of {country}?", "choices": choices,
                     "answer": "ABCD"[pos] if i % 2 else pos})
    return rows


def sums() -> list[dict]:
    return [{"question": f"What is {a} plus {b}?", "answer": f"{a} plus {b} makes {a + b}.\n#### {a + b}"}
            for a, b in PAIRS]


def register_arith(ws, tmp_path) -> None:
    """Register arith-mc (multiple choice; the answer as an index or a letter) and arith-em (GSM8K-style, 1-shot)."""
    mc = write_jsonl(tmp_path / "mc.jsonl", [
        {"q": f"What is {a} plus {b}?", "options": [str(a + b + 1), str(a + b), str(a * b + 7), "zero"],
         "gold": "B" if i % 2 else 1} for i, (a, b) in enumerate(PAIRS)])
    em = write_jsonl(tmp_path / "em.jsonl", [
        {"question": f"What is {a} plus {b}?", "answer": f"{a} plus {b} makes {a + b}.\n#### {a + b}"}
        for a, b in PAIRS])
    assert jobs_main(["benchmark", "add", "arith-mc", "--jsonl", str(mc), "--kind", "multiple_choice",
                      "--question-column", "q", "--choices-column", "options", "--answer-column", "gold",
                      "--home", str(ws.home)]) == 0
    assert jobs_main(["benchmark", "add", "arith-em", "--jsonl", str(em), "--kind", "exact_match", "--few-shot", "1",
                      "--home", str(ws.home)]) == 0
