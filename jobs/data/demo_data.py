"""The demo datasets, generated offline and deterministically by our own code."""
from __future__ import annotations

import random

WORDS = ["cat", "dog", "sun", "tree", "book", "lamp", "river", "stone", "apple", "cloud", "house", "bird",
         "chair", "music", "light", "green", "water", "bread", "paper", "horse"]
OPPOSITES = {"hot": "cold", "big": "small", "up": "down", "fast": "slow", "day": "night", "old": "new",
             "happy": "sad", "open": "closed", "light": "dark", "early": "late", "full": "empty", "high": "low"}
COLORS = {"the sky": "blue", "grass": "green", "snow": "white", "a banana": "yellow", "coal": "black",
          "a tomato": "red", "an orange": "orange", "a plum": "purple"}
ZH = {"猫": "cat", "狗": "dog", "太阳": "sun", "树": "tree", "书": "book", "水": "water", "鸟": "bird", "苹果": "apple"}
NAMES = ["Tom", "Anna", "Li Wei", "Sara", "Omar", "Mia", "Ken", "Lucy"]
ITEMS = ["apples", "books", "coins", "pens", "cards", "stamps", "eggs", "shells"]


def instruct_rows(n: int = 400, seed: int = 0) -> list[dict]:
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        kind = rng.randrange(5)
        if kind == 0:
            w = rng.choice(WORDS)
            rows.append({"instruction": "Spell the word backwards.", "input": w, "output": w[::-1]})
        elif kind == 1:
            a, b = rng.choice(list(OPPOSITES.items()))
            rows.append({"instruction": f"What is the opposite of {a}?", "input": "", "output": f"The opposite of {a} is {b}."})
        elif kind == 2:
            t, c = rng.choice(list(COLORS.items()))
            rows.append({"instruction": f"What color is {t}?", "input": "", "output": f"{t[0].upper() + t[1:]} is {c}."})
        elif kind == 3:
            z, e = rng.choice(list(ZH.items()))
            rows.append({"instruction": "把这个词翻译成英文。", "input": z, "output": f"{z} 的英文是 {e}。"})
        else:
            w = rng.choice(WORDS)
            rows.append({"instruction": "Write the word in capital letters.", "input": w, "output": w.upper()})
    return rows


def math_rows(n: int = 300, seed: int = 1) -> list[dict]:
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        name, item = rng.choice(NAMES), rng.choice(ITEMS)
        a, b = rng.randint(2, 20), rng.randint(1, 9)
        op = rng.randrange(3)
        if op == 0:
            q = f"{name} has {a} {item} and gets {b} more. How many {item} does {name} have now?"
            ans, work = a + b, f"{a} + {b} = {a + b}"
        elif op == 1:
            a = max(a, b + 1)
            q = f"{name} has {a} {item} and gives away {b}. How many {item} are left?"
            ans, work = a - b, f"{a} - {b} = {a - b}"
        else:
            q = f"{name} buys {b} boxes with {a} {item} in each box. How many {item} is that in total?"
            ans, work = a * b, f"{b} * {a} = {a * b}"
        rows.append({"question": q, "answer": f"{name} has {work} {item}.\n#### {ans}"})
    return rows


def prefs_rows(n: int = 300, seed: int = 2) -> list[dict]:
    rng = random.Random(seed)
    rows = []
    for r in instruct_rows(n, seed):
        prompt = r["instruction"] + (f"\n{r['input']}" if r["input"] else "")
        wrong = rng.choice(["I do not know.", "No.", r["output"][::-1], "That is not something I can answer."])
        rows.append({"prompt": prompt, "chosen": r["output"], "rejected": wrong})
    return rows


def reasoning_chats() -> list[tuple[str, str]]:
    """Math questions answered in the <reasoning>/<answer> format that GRPO's format reward looks for."""
    out = []
    for r in math_rows(600, 12):
        work, ans = r["answer"].split("\n#### ")
        out.append((r["question"], f"<reasoning>{work}</reasoning><answer>{ans}</answer>"))
    return out


def pretrain_texts() -> list[str]:
    """Plain text the tiny model is pre-trained on, so fine-tuning starts from something."""
    out = []
    for r in instruct_rows(600, 10):
        out.append(f"{r['instruction']} {r['input']} {r['output']}".strip())
    for r in math_rows(400, 11):
        out.append(f"{r['question']} {r['answer']}")
    return out
