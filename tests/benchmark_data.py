"""Small benchmarks we make (never a hub): world capitals as multiple choice, GSM8K-style sums as exact match."""

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
