"""Writes the example pictures of examples/images/ that the demo, the README and the browser
demo ask about: pictures of the shapes task (shapes_task.render), each with the questions it
answers and their right answers in examples/images/shapes.json.

    python3 tools/train-shapes/make_examples.py
"""

import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, HERE)

from shapes_task import render  # noqa: E402

# name: (width, height, gray, [(shape, color, x, y, side)], [(question, answer)])
EXAMPLES = {
    "shapes-three.png": (
        320,
        240,
        228,
        [("circle", "red", 24, 96, 72), ("triangle", "yellow", 128, 24, 76), ("square", "blue", 226, 132, 70)],
        [("How many shapes are there?", "3"), ("What color is the circle?", "red"), ("What color is the square?", "blue")],
    ),
    "shapes-two.png": (
        300,
        200,
        205,
        [("triangle", "green", 30, 70, 80), ("square", "purple", 190, 40, 70)],
        [("Is the green triangle on the left or the right?", "left"), ("Is the purple square on the left or the right?", "right"), ("What color is the triangle?", "green")],
    ),
    "shape-one.png": (
        224,
        224,
        240,
        [("circle", "black", 60, 70, 90)],
        [("What shape is this?", "circle"), ("How many shapes are there?", "1"), ("What color is the circle?", "black")],
    ),
}


def main():
    out = os.path.join(ROOT, "examples", "images")
    manifest = {}
    for name, (width, height, gray, items, questions) in EXAMPLES.items():
        render(width, height, gray, items).save(os.path.join(out, name), optimize=True)
        manifest[name] = [{"question": q, "answer": a} for q, a in questions]
    with open(os.path.join(out, "shapes.json"), "w") as f:
        json.dump(manifest, f, indent=2)
        f.write("\n")
    print(f"wrote {len(EXAMPLES)} pictures and shapes.json in {out}")


if __name__ == "__main__":
    main()
