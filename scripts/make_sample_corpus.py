"""Generate mlm's embedded sample corpus (mlm_cli/samples/corpus.txt) from a small grammar.

The text is synthetic and written for this project: short paragraphs about workshops,
gardens, trains, kitchens and weather, varied enough for a tiny model to learn from.
Run: python scripts/make_sample_corpus.py
"""

from __future__ import annotations

import random
from pathlib import Path

SUBJECTS = {
    "workshop": (["the carpenter", "an apprentice", "the old joiner", "my neighbour", "a student"],
                 ["planed the oak board", "sharpened a chisel", "glued the drawer", "measured the frame twice",
                  "swept the shavings", "oiled the walnut table", "cut a dovetail joint", "fixed a loose hinge"]),
    "garden": (["the gardener", "my grandmother", "a volunteer", "the children", "our landlord"],
               ["watered the tomatoes", "pruned the apple tree", "planted garlic", "picked ripe beans",
                "turned the compost", "weeded the carrot bed", "tied up the sweet peas", "mowed the lawn"]),
    "railway": (["the driver", "a conductor", "the signal operator", "a tired commuter", "the station master"],
                ["waited for the green light", "checked every ticket", "announced a short delay",
                 "boarded the early train", "closed the heavy doors", "read the timetable", "changed at the junction"]),
    "kitchen": (["the cook", "my brother", "a baker", "the chef", "our host"],
                ["kneaded the dough", "simmered the soup", "chopped onions", "roasted the peppers",
                 "baked two loaves", "whisked the eggs", "tasted the sauce", "washed the pans"]),
    "weather": (["the forecaster", "a sailor", "the farmer", "a hiker", "the pilot"],
                ["watched the clouds gather", "felt the wind turn cold", "expected rain by noon",
                 "waited for the fog to lift", "saw lightning over the hills", "enjoyed the dry spell"]),
}
TIMES = ["in the morning", "after lunch", "before dawn", "late in the evening", "on sunday", "during the storm",
         "at the end of the week", "while it was still dark", "in early spring", "last winter"]
REASONS = ["because the order was due", "since nobody else could", "as the light was good",
           "so that nothing would spoil",
           "because the forecast looked bad", "to finish before the holiday", "as everyone had agreed"]
OBSERVATIONS = ["It was quiet work.", "Nobody complained.", "The result looked better than expected.",
                "It took longer than planned.", "Everyone seemed pleased.", "There was still plenty to do.",
                "The radio played softly in the background.", "A cat watched from the window."]
NUMBERS = ["two", "three", "four", "five", "seven", "ten", "twelve"]
UNITS = ["hours", "days", "minutes", "weeks"]


def sentence(rng: random.Random, topic: str) -> str:
    people, actions = SUBJECTS[topic]
    parts = [rng.choice(people).capitalize(), rng.choice(actions), rng.choice(TIMES)]
    if rng.random() < 0.5:
        parts.append(rng.choice(REASONS))
    text = " ".join(parts) + "."
    if rng.random() < 0.3:
        text += f" It took {rng.choice(NUMBERS)} {rng.choice(UNITS)}."
    return text


def paragraph(rng: random.Random) -> str:
    topic = rng.choice(sorted(SUBJECTS))
    sentences = [sentence(rng, topic) for _ in range(rng.randint(2, 5))]
    if rng.random() < 0.6:
        sentences.insert(rng.randint(1, len(sentences)), rng.choice(OBSERVATIONS))
    return " ".join(sentences)


def main(path: Path = Path(__file__).resolve().parents[1] / "mlm_cli" / "samples" / "corpus.txt",
         lines: int = 3000) -> None:
    rng = random.Random(20261124)
    path.write_text("\n".join(paragraph(rng) for _ in range(lines)) + "\n", encoding="utf-8")
    print(f"wrote {lines} paragraphs to {path}")


if __name__ == "__main__":
    main()
