"""Write FlowStudio's built-in demo data sets (deterministic; run again after editing).

    python assets/data/make_demo_data.py

A tiny made-up world of facts (capitals, animal sounds, colours, sums, opposites) gives every set
a signal a small model can learn in a few steps:

- sft_chat.jsonl     {"messages": [...]}                 chat turns answering questions about the facts
- preference.jsonl   {"prompt", "chosen", "rejected"}    chat messages; chosen: correct and polite,
                                                         rejected: wrong and rude
- qa.jsonl           {"question", "answer"}              short answers, for exact-match evaluation
- corpus.jsonl       {"text"}                            plain sentences stating the facts
- ../corpus/tiny_corpus.txt  the text builtin:tiny-llama's tokenizer is trained on
"""

from __future__ import annotations

import json
import random
from pathlib import Path

HERE = Path(__file__).resolve().parent

CAPITALS = {
    "France": "Paris", "Germany": "Berlin", "Italy": "Rome", "Spain": "Madrid", "Portugal": "Lisbon",
    "Japan": "Tokyo", "China": "Beijing", "Egypt": "Cairo", "Kenya": "Nairobi", "Peru": "Lima",
    "Chile": "Santiago", "Canada": "Ottawa", "Mexico": "Mexico City", "Norway": "Oslo", "Sweden": "Stockholm",
    "Finland": "Helsinki", "Poland": "Warsaw", "Greece": "Athens", "Ireland": "Dublin", "Austria": "Vienna",
    "Hungary": "Budapest", "Russia": "Moscow", "India": "New Delhi", "Thailand": "Bangkok", "Cuba": "Havana",
}
SOUNDS = {
    "cow": "moo", "dog": "woof", "cat": "meow", "duck": "quack", "sheep": "baa", "horse": "neigh",
    "pig": "oink", "owl": "hoot", "lion": "roar", "frog": "croak", "snake": "hiss", "bee": "buzz",
}
COLOURS = {
    "grass": "green", "the sky": "blue", "snow": "white", "coal": "black", "a banana": "yellow",
    "a tomato": "red", "an orange": "orange", "a plum": "purple", "chocolate": "brown", "a flamingo": "pink",
}
OPPOSITES = {
    "hot": "cold", "big": "small", "fast": "slow", "up": "down", "light": "dark", "happy": "sad",
    "old": "young", "early": "late", "open": "closed", "full": "empty", "loud": "quiet", "hard": "soft",
}
RUDE = ["Whatever.", "Ugh, fine.", "Who cares?", "Stop asking me.", "Figure it out yourself."]
POLITE = ["", "Sure! ", "Good question. ", "Happy to help. "]


def facts() -> list[tuple[str, str, str, list[str]]]:
    """(question, short answer, full sentence, wrong answers) for every fact."""
    rows = []
    caps = list(CAPITALS.values())
    for country, city in CAPITALS.items():
        rows.append((f"What is the capital of {country}?", city, f"The capital of {country} is {city}.",
                     [c for c in caps if c != city]))
    sounds = list(SOUNDS.values())
    for animal, sound in SOUNDS.items():
        rows.append((f"What sound does a {animal} make?", sound, f"A {animal} says {sound}.",
                     [s for s in sounds if s != sound]))
    colours = list(COLOURS.values())
    for thing, colour in COLOURS.items():
        rows.append((f"What colour is {thing}?", colour, f"The colour of {thing} is {colour}.",
                     [c for c in colours if c != colour]))
    for a in range(1, 10):
        for b in range(1, 10):
            rows.append((f"What is {a} plus {b}?", str(a + b), f"{a} plus {b} is {a + b}.",
                         [str(n) for n in range(2, 19) if n != a + b]))
    for a in range(2, 11):
        for b in range(1, a):
            rows.append((f"What is {a} minus {b}?", str(a - b), f"{a} minus {b} is {a - b}.",
                         [str(n) for n in range(0, 10) if n != a - b]))
    for a in range(2, 7):
        for b in range(2, 7):
            rows.append((f"What is {a} times {b}?", str(a * b), f"{a} times {b} is {a * b}.",
                         [str(n) for n in range(4, 37) if n != a * b]))
    words = list(OPPOSITES.values())
    for word, opposite in OPPOSITES.items():
        rows.append((f"What is the opposite of {word}?", opposite, f"The opposite of {word} is {opposite}.",
                     [w for w in words if w != opposite]))
    return rows


def wrong_sentence(sentence: str, answer: str, wrong: str) -> str:
    return sentence[::-1].replace(answer[::-1], wrong[::-1], 1)[::-1]


def main() -> None:
    rng = random.Random(1234)
    all_facts = facts()

    sft = []
    for _ in range(400):
        question, _answer, sentence, _ = rng.choice(all_facts)
        messages = []
        if rng.random() < 0.25:
            messages.append({"role": "system", "content": "You are a helpful assistant."})
        messages += [{"role": "user", "content": question},
                     {"role": "assistant", "content": rng.choice(POLITE) + sentence}]
        sft.append({"messages": messages})

    preference = []
    for _ in range(300):
        question, answer, sentence, wrong = rng.choice(all_facts)
        chosen = rng.choice(POLITE) + sentence
        rejected = f"{rng.choice(RUDE)} {wrong_sentence(sentence, answer, rng.choice(wrong))}"
        preference.append({"prompt": [{"role": "user", "content": question}],
                           "chosen": [{"role": "assistant", "content": chosen}],
                           "rejected": [{"role": "assistant", "content": rejected}]})

    qa = [{"question": q, "answer": a} for q, a, _, _ in rng.sample(all_facts, 200)]

    corpus = []
    for _ in range(400):
        picked = rng.sample(all_facts, 3)
        corpus.append({"text": " ".join(sentence for _, _, sentence, _ in picked)})

    for name, rows in [("sft_chat", sft), ("preference", preference), ("qa", qa), ("corpus", corpus)]:
        with open(HERE / f"{name}.jsonl", "w", encoding="utf-8") as fh:
            for row in rows:
                fh.write(json.dumps(row, ensure_ascii=False) + "\n")

    lines = [sentence for _, _, sentence, _ in all_facts]
    lines += [q for q, _, _, _ in all_facts]
    lines += [f"{r} {p}" for r in RUDE for p in POLITE] + ["You are a helpful assistant."]
    (HERE.parent / "corpus").mkdir(exist_ok=True)
    (HERE.parent / "corpus" / "tiny_corpus.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
