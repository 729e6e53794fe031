"""The shapes task of issue 10: pictures of 1-4 flat shapes and the questions about them.

Every sample is a dict:
  kind     one of KINDS
  images   list of PIL RGB images (0, 1 or 2)
  video    list of 4 PIL RGB frames (fps 2) or None
  question the user's text
  answer   the exact answer (one word or number)

The distribution is exactly the one the issue states; `sample(rng, kind)` draws one question of
a kind with a `random.Random`, so a seed fixes the whole set.
"""

import math
import random

from PIL import Image, ImageDraw

SHAPES = ("circle", "square", "triangle")
COLORS = {
    "red": (220, 30, 30),
    "green": (30, 160, 50),
    "blue": (40, 70, 220),
    "yellow": (240, 200, 20),
    "purple": (140, 50, 170),
    "black": (20, 20, 20),
}
COLOR_NAMES = tuple(COLORS)
KINDS = ("shape", "color", "count", "side", "compare", "sum", "motion")
# Training-only questions (never in the eval), curriculum steps towards `side` (see README.md):
# `side_single` asks the side question about the only shape of a picture, so its answer depends on
# where that shape is and not yet on which of two shapes is named; `side_same_shape` is a `side`
# question whose two shapes share their shape, so only the color tells which one is named (the
# case stage 3 left at chance).
TRAINING_KINDS = ("side_single", "side_same_shape")

MIN_SIDE_PX = 20
NORMAL_SIZE = (0.25, 0.45)
COUNT_SIZE = (0.18, 0.35)


def picture_size(rng):
    return rng.randint(64, 336), rng.randint(64, 336)


def box_side(rng, width, height, frac):
    short = min(width, height)
    lo = max(MIN_SIDE_PX, math.ceil(frac[0] * short))
    hi = max(lo, math.floor(frac[1] * short))
    return rng.randint(lo, hi)


def distinct_styles(rng, n, shapes=None):
    """n (shape, color) pairs, no two equal; `shapes` fixes the shapes when given."""
    while True:
        picked = [(shapes[i] if shapes else rng.choice(SHAPES), rng.choice(COLOR_NAMES)) for i in range(n)]
        if len(set(picked)) == n:
            return picked


def overlaps(a, b):
    ax, ay, asz = a
    bx, by, bsz = b
    return ax < bx + bsz and bx < ax + asz and ay < by + bsz and by < ay + asz


def place(rng, width, height, sides, accept=None, tries=200):
    """Top-left corners for boxes of the given sides, inside the picture, boxes disjoint."""
    for _ in range(tries):
        boxes = []
        for s in sides:
            for _ in range(50):
                box = (rng.randint(0, width - s), rng.randint(0, height - s), s)
                if not any(overlaps(box, other) for other in boxes):
                    boxes.append(box)
                    break
            else:
                break
        if len(boxes) == len(sides) and (accept is None or accept(boxes)):
            return boxes
    return None


def draw_shape(draw, shape, color, x, y, s):
    rgb = COLORS[color]
    if shape == "circle":
        draw.ellipse([x, y, x + s - 1, y + s - 1], fill=rgb)
    elif shape == "square":
        draw.rectangle([x, y, x + s - 1, y + s - 1], fill=rgb)
    else:
        draw.polygon([(x + (s - 1) / 2, y), (x, y + s - 1), (x + s - 1, y + s - 1)], fill=rgb)


def render(width, height, gray, items):
    """items: list of (shape, color, x, y, side)."""
    image = Image.new("RGB", (width, height), (gray, gray, gray))
    draw = ImageDraw.Draw(image)
    for shape, color, x, y, s in items:
        draw_shape(draw, shape, color, x, y, s)
    return image


def picture(rng, n, frac, shapes=None, accept=None):
    """A random picture with n shapes; returns (image, items)."""
    while True:
        width, height = picture_size(rng)
        gray = rng.randint(180, 255)
        sides = [box_side(rng, width, height, frac) for _ in range(n)]
        boxes = place(rng, width, height, sides, accept=None if accept is None else (lambda b: accept(b, width)))
        if boxes is None:
            continue
        styles = distinct_styles(rng, n, shapes)
        items = [(sh, co, x, y, s) for (sh, co), (x, y, s) in zip(styles, boxes)]
        return render(width, height, gray, items), items


def sample(rng, kind):
    if kind == "shape":
        image, items = picture(rng, 1, NORMAL_SIZE)
        return dict(kind=kind, images=[image], video=None, question="What shape is this?", answer=items[0][0])
    if kind == "color":
        n = rng.randint(1, 3)
        named = rng.choice(SHAPES)
        others = [rng.choice([s for s in SHAPES if s != named]) for _ in range(n - 1)]
        shapes = [named] + others
        rng.shuffle(shapes)
        image, items = picture(rng, n, NORMAL_SIZE, shapes=shapes)
        color = next(co for sh, co, *_ in items if sh == named)
        return dict(kind=kind, images=[image], video=None, question=f"What color is the {named}?", answer=color)
    if kind == "count":
        n = rng.randint(1, 4)
        image, _ = picture(rng, n, COUNT_SIZE)
        return dict(kind=kind, images=[image], video=None, question="How many shapes are there?", answer=str(n))
    if kind in ("side", "side_same_shape"):
        def apart(boxes, width):
            (c0, c1) = [x + s / 2 for x, _, s in boxes]
            return (c0 < width / 2) != (c1 < width / 2) and abs(c0 - c1) > width / 4

        shapes = [rng.choice(SHAPES)] * 2 if kind == "side_same_shape" else None
        image, items = picture(rng, 2, NORMAL_SIZE, shapes=shapes, accept=apart)
        shape, color, x, _, s = items[rng.randrange(2)]
        side = "left" if x + s / 2 < image.width / 2 else "right"
        return dict(kind=kind, images=[image], video=None, question=f"Is the {color} {shape} on the left or the right?", answer=side)
    if kind == "side_single":
        def off_centre(boxes, width):
            x, _, s = boxes[0]
            return abs(x + s / 2 - width / 2) > width / 8

        image, items = picture(rng, 1, NORMAL_SIZE, accept=off_centre)
        shape, color, x, _, s = items[0]
        side = "left" if x + s / 2 < image.width / 2 else "right"
        return dict(kind=kind, images=[image], video=None, question=f"Is the {color} {shape} on the left or the right?", answer=side)
    if kind == "compare":
        n1, n2 = rng.sample(range(1, 5), 2)
        first, _ = picture(rng, n1, COUNT_SIZE)
        second, _ = picture(rng, n2, COUNT_SIZE)
        return dict(
            kind=kind,
            images=[first, second],
            video=None,
            question="Which image has more shapes, the first or the second?",
            answer="first" if n1 > n2 else "second",
        )
    if kind == "sum":
        a, b = rng.randint(0, 9), rng.randint(0, 9)
        return dict(kind=kind, images=[], video=None, question=f"What is {a} plus {b}?", answer=str(a + b))
    if kind == "motion":
        while True:
            width, height = picture_size(rng)
            gray = rng.randint(180, 255)
            s = box_side(rng, width, height, NORMAL_SIZE)
            step = rng.randint(math.ceil(0.10 * width), math.floor(0.15 * width))
            travel = 3 * step
            if s + travel > width:
                continue
            shape, color = rng.choice(SHAPES), rng.choice(COLOR_NAMES)
            right = rng.random() < 0.5
            x0 = rng.randint(0, width - s - travel)
            y = rng.randint(0, height - s)
            xs = [x0 + i * step for i in range(4)]
            if not right:
                xs = xs[::-1]
            frames = [render(width, height, gray, [(shape, color, x, y, s)]) for x in xs]
            return dict(
                kind=kind,
                images=[],
                video=frames,
                question=f"Is the {shape} moving left or right?",
                answer="right" if right else "left",
            )
    raise ValueError(kind)


def all_texts():
    """Every question and answer text the task can produce (for the token table)."""
    questions = {"What shape is this?", "How many shapes are there?", "Which image has more shapes, the first or the second?"}
    questions |= {f"What color is the {s}?" for s in SHAPES}
    questions |= {f"Is the {c} {s} on the left or the right?" for s in SHAPES for c in COLOR_NAMES}
    questions |= {f"What is {a} plus {b}?" for a in range(10) for b in range(10)}
    questions |= {f"Is the {s} moving left or right?" for s in SHAPES}
    answers = set(SHAPES) | set(COLOR_NAMES) | {str(i) for i in range(19)} | {"left", "right", "first", "second"}
    return sorted(questions), sorted(answers)
