"""The sentence frames of `data.tool_use`: many training frames per kind, composed from parts (stories ×
questions, plain instructions, unit pairs × phrasings), so a model learns which words call for which operation
("left", "each", "share equally", "how much taller") instead of memorising a few sentences; and a few whole
held-out frames per kind that are never generated for training.

A frame is a `str.format` template: {a} {b} {c} are numbers, {name} and {item} words. Each frame comes with the
expression that answers it.
"""

from __future__ import annotations

from itertools import product

Frame = tuple[str, str]  # (question frame, expression frame)


def _compose(stories: list[str], questions: list[str], expression: str) -> list[Frame]:
    return [(f"{s} {q}", expression) for s, q in product(stories, questions)]


def _plain(frames: list[str], expression: str) -> list[Frame]:
    return [(f, expression) for f in frames]


ADD, SUB, MUL, DIV = "{a} + {b}", "{a} - {b}", "{a} * {b}", "{a} / {b}"

TRAIN_FRAMES: dict[str, list[Frame]] = {
    "add": _plain(["What is {a} plus {b}?", "Add {a} and {b}.", "Compute the sum of {a} and {b}.",
                   "What is the sum of {a} and {b}?", "Calculate {a} + {b}.", "What do you get if you add {b} to "
                   "{a}?", "Find the total of {a} and {b}.", "What is {b} more than {a}?", "Increase {a} by {b}.",
                   "What number is {a} and {b} combined?"], ADD)
    + _compose(["{name} has {a} {item} and gets {b} more.", "{name} had {a} {item}. Then {name} bought {b} more.",
                "{name} collected {a} {item} on Monday and {b} {item} on Tuesday.",
                "{name} found {a} {item} and then {b} more {item}.",
                "{name} owns {a} {item}. A friend gives {name} another {b}."],
               ["How many {item} does {name} have now?", "How many {item} does {name} have in total?",
                "How many {item} is that altogether?"], ADD)
    + _compose(["A shelf holds {a} {item} and another holds {b}.",
                "One box has {a} {item} and a second box has {b} {item}.",
                "There are {a} red {item} and {b} blue {item}.", "A shop sold {a} {item} last week and {b} this week."],
               ["How many {item} are there in total?", "How many {item} is that in all?",
                "What is the total number of {item}?"], ADD),
    "subtract": _plain(["What is {a} minus {b}?", "Subtract {b} from {a}.", "Compute the difference between {a} "
                        "and {b}.", "What is {a} take away {b}?", "Calculate {a} - {b}.", "Take {b} away from {a}.",
                        "What is left when you subtract {b} from {a}?", "Decrease {a} by {b}.",
                        "What is {b} less than {a}?", "By how much does {a} exceed {b}?",
                        "What is the difference between {a} and {b}?"], SUB)
    + _compose(["{name} had {a} {item} and gave away {b}.", "{name} had {a} {item} and lost {b} of them.",
                "A box held {a} {item}; {b} were sold.", "{name} baked {a} {item} and ate {b}.",
                "There were {a} {item} in a jar and {b} were taken out.", "A library had {a} {item} and lent out {b}."],
               ["How many {item} are left?", "How many remain?", "How many {item} are still there?"], SUB)
    + _plain(["{name} has {a} {item} and a friend has {b} {item}. How many more {item} does {name} have?",
              "A tower is {a} meters tall and a tree is {b} meters tall. How much taller is the tower?",
              "{name} scored {a} points and a friend scored {b}. By how many points did {name} win?",
              "A red rope is {a} centimeters long and a blue one is {b} centimeters. How much longer is the red "
              "rope?", "{name} walked {a} steps and a friend walked {b} steps. How many fewer steps did the friend "
              "walk?"], SUB),
    "multiply": _plain(["What is {a} times {b}?", "Multiply {a} by {b}.", "Compute the product of {a} and {b}.",
                        "What is the product of {a} and {b}?", "Calculate {a} * {b}.",
                        "What do you get when {a} is multiplied by {b}?", "What is {b} times {a}?"], MUL)
    + _compose(["{name} buys {a} packs with {b} {item} each.", "A crate has {a} rows of {b} {item}.",
                "There are {a} bags and each bag holds {b} {item}.", "{a} boxes each contain {b} {item}.",
                "{name} fills {a} jars with {b} {item} in every jar."],
               ["How many {item} is that?", "How many {item} are there in total?", "How many {item} altogether?"],
               MUL)
    + _plain(["{name} reads {b} pages a day for {a} days. How many pages does {name} read?",
              "A ticket costs {b} dollars. How much do {a} tickets cost?",
              "A car drives {b} kilometers every hour. How far does it go in {a} hours?"], MUL),
    "divide": _plain(["What is {a} divided by {b}?", "Divide {a} by {b}.", "Compute the quotient of {a} and {b}.",
                      "Calculate {a} / {b}.", "What is {a} over {b}?", "How many times does {b} go into {a}?",
                      "What is {a} shared equally by {b}?"], DIV)
    + _plain(["{name} shares {a} {item} equally among {b} friends. How many {item} does each friend get?",
              "{a} {item} are packed into {b} equal boxes. How many {item} are in each box?",
              "{a} {item} are put into bags of {b}. How many bags are filled?",
              "{name} has {a} {item} and puts {b} in each jar. How many jars does {name} need?",
              "A team of {b} shares {a} {item} evenly. How many {item} does each member get?",
              "{a} {item} are laid out in {b} equal rows. How many {item} are in each row?",
              "{b} children share {a} {item} fairly. How many {item} does each child get?",
              "A rope of {a} centimeters is cut into pieces of {b} centimeters. How many pieces are there?",
              "{name} pays {a} dollars for {b} books of the same price. How much does one book cost?",
              "A bus carries {b} people per trip. How many trips does it take to carry {a} people?"], DIV),
    "two_step": _plain(["What is {a} times {b}, plus {c}?", "Multiply {a} by {b} and then add {c}.",
                        "Compute {a} * {b} + {c}.",
                        "{name} buys {a} bags of {b} {item} and finds {c} more. How many {item} in all?",
                        "A farm has {a} crates of {b} {item} and {c} loose {item}. How many {item} does the farm "
                        "have?", "{name} has {a} boxes with {b} {item} in each, plus {c} extra {item}. How many "
                        "{item} does {name} have?"], "{a} * {b} + {c}")
    + _plain(["Add {a} and {b}, then multiply by {c}.", "Compute {a} plus {b}, all times {c}.",
              "What is ({a} + {b}) times {c}?", "Multiply the total of {a} and {b} by {c}.",
              "There are {c} bags, each with {a} red {item} and {b} blue {item}. How many {item} are in the bags?",
              "Find {a} plus {b} and multiply the result by {c}."], "({a} + {b}) * {c}")
    + _plain(["A store gets {a} boxes of {b} {item} and sells {c}. How many {item} are left?",
              "What is {a} times {b}, minus {c}?", "Multiply {a} by {b}, then subtract {c}.",
              "{name} packs {a} bags of {b} {item} and gives away {c} {item}. How many {item} does {name} keep?"],
             "{a} * {b} - {c}"),
    "units": [(frame.format(a="{a}", big=big, small=small), f"{{a}} * {factor}")
              for (big, small, factor), frame in product(
                  [("kilometers", "meters", 1000), ("kilograms", "grams", 1000), ("meters", "centimeters", 100),
                   ("hours", "minutes", 60), ("minutes", "seconds", 60), ("liters", "milliliters", 1000),
                   ("days", "hours", 24), ("weeks", "days", 7), ("dollars", "cents", 100)],
                  ["How many {small} are in {a} {big}?", "Convert {a} {big} to {small}.",
                   "What is {a} {big} in {small}?", "How many {small} make up {a} {big}?",
                   "Change {a} {big} into {small}."])],
}

# Whole frames used only for held-out problems (never generated for training; tests check it).
HELD_OUT_FRAMES: dict[str, list[Frame]] = {
    "add": [("If you put {a} {item} together with {b} {item}, how many {item} do you have?", ADD),
            ("{a} {item} came in the morning and {b} in the afternoon. What is the total?", ADD)],
    "subtract": [("How much greater is {a} than {b}?", SUB),
                 ("There were {a} {item}, then {b} of them broke. How many still work?", SUB)],
    "multiply": [("Each of {a} shelves carries {b} {item}. How many {item} do the shelves carry?", MUL),
                 ("Find {a} multiplied by {b}.", MUL)],
    "divide": [("How many groups of {b} can be made from {a} {item}?", DIV),
               ("Split {a} into {b} equal parts. How big is each part?", DIV)],
    "two_step": [("There are {a} tables with {b} {item} on each, and {c} {item} on the floor. How many {item} "
                  "are there?", "{a} * {b} + {c}"),
                 ("Take the sum of {a} and {b} and multiply it by {c}.", "({a} + {b}) * {c}")],
    "units": [("{a} hours is how many minutes?", "{a} * 60"), ("Express {a} meters in centimeters.", "{a} * 100")],
}
KINDS = tuple(TRAIN_FRAMES)
