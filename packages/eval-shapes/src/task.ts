/**
 * The shapes task of models/tiny-shapes, drawn independently of the Python trainer (its own
 * renderer, its own random numbers): 1-4 flat shapes on a gray picture, and seven kinds of
 * questions with one exact answer each.
 */

export const SHAPES = ['circle', 'square', 'triangle'] as const;
export type Shape = (typeof SHAPES)[number];

export const COLORS = {
  red: [220, 30, 30],
  green: [30, 160, 50],
  blue: [40, 70, 220],
  yellow: [240, 200, 20],
  purple: [140, 50, 170],
  black: [20, 20, 20],
} as const satisfies Record<string, readonly [number, number, number]>;
export type Color = keyof typeof COLORS;
export const COLOR_NAMES = Object.keys(COLORS) as Color[];

export const KINDS = ['shape', 'color', 'count', 'side', 'compare', 'sum', 'motion'] as const;
export type Kind = (typeof KINDS)[number];

/** What the model can be asked, in words (the demo and the browser page list these). */
export const KIND_DESCRIPTIONS: Record<Kind, string> = {
  shape: 'What shape is this? (one shape: circle, square or triangle)',
  color: 'What color is the {shape}? (red, green, blue, yellow, purple or black)',
  count: 'How many shapes are there? (1 to 4)',
  side: 'Is the {color} {shape} on the left or the right? (two shapes)',
  compare: 'Which image has more shapes, the first or the second? (two pictures)',
  sum: 'What is {a} plus {b}? (digits 0-9, no picture)',
  motion: 'Is the {shape} moving left or right? (a 4-frame video at 2 fps)',
};

/** An RGB picture, row-major, 3 bytes per pixel. */
export interface Picture {
  width: number;
  height: number;
  data: Uint8Array;
}

export interface Question {
  kind: Kind;
  images: Picture[];
  /** Frames of one video (fps 2), or undefined. */
  video?: Picture[];
  question: string;
  answer: string;
}

/** mulberry32: a small seeded generator, so a seed fixes the whole set. */
export class Random {
  private state: number;
  constructor(seed: number) {
    this.state = seed >>> 0;
  }
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  /** Integer in [lo, hi], both included. */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }
  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.next() * items.length)];
  }
}

interface Item {
  shape: Shape;
  color: Color;
  x: number;
  y: number;
  side: number;
}

const MIN_SIDE_PX = 20;
const NORMAL_SIZE: [number, number] = [0.25, 0.45];
const COUNT_SIZE: [number, number] = [0.18, 0.35];

function boxSide(rng: Random, width: number, height: number, [lo, hi]: [number, number]): number {
  const short = Math.min(width, height);
  const min = Math.max(MIN_SIDE_PX, Math.ceil(lo * short));
  return rng.int(min, Math.max(min, Math.floor(hi * short)));
}

function inside(shape: Shape, px: number, py: number, side: number): boolean {
  // (px, py): pixel centre relative to the box's top-left corner
  if (px < 0 || py < 0 || px > side || py > side) return false;
  if (shape === 'square') return true;
  if (shape === 'circle') {
    const r = side / 2;
    return (px - r) ** 2 + (py - r) ** 2 <= r * r;
  }
  // triangle, apex at the top middle, base along the bottom of the box
  const halfWidth = (py / side) * (side / 2);
  return Math.abs(px - side / 2) <= halfWidth;
}

export function render(width: number, height: number, gray: number, items: readonly Item[]): Picture {
  const data = new Uint8Array(width * height * 3).fill(gray);
  for (const item of items) {
    const [r, g, b] = COLORS[item.color];
    for (let y = item.y; y < Math.min(height, item.y + item.side); y++) {
      for (let x = item.x; x < Math.min(width, item.x + item.side); x++) {
        if (!inside(item.shape, x + 0.5 - item.x, y + 0.5 - item.y, item.side)) continue;
        const o = (y * width + x) * 3;
        data[o] = r;
        data[o + 1] = g;
        data[o + 2] = b;
      }
    }
  }
  return { width, height, data };
}

function overlaps(a: Item, b: Item): boolean {
  return a.x < b.x + b.side && b.x < a.x + a.side && a.y < b.y + b.side && b.y < a.y + a.side;
}

/** A picture of `n` shapes, boxes disjoint, no two with the same shape and color. */
function picture(rng: Random, n: number, size: [number, number], shapes?: Shape[], accept?: (items: Item[], width: number) => boolean): { picture: Picture; items: Item[] } {
  for (;;) {
    const width = rng.int(64, 336);
    const height = rng.int(64, 336);
    const gray = rng.int(180, 255);
    const styles: [Shape, Color][] = [];
    while (styles.length < n) {
      const style: [Shape, Color] = [shapes ? shapes[styles.length] : rng.pick(SHAPES), rng.pick(COLOR_NAMES)];
      if (!styles.some(([s, c]) => s === style[0] && c === style[1])) styles.push(style);
    }
    for (let attempt = 0; attempt < 200; attempt++) {
      const items: Item[] = [];
      for (const [shape, color] of styles) {
        const side = boxSide(rng, width, height, size);
        for (let tries = 0; tries < 50; tries++) {
          const item = { shape, color, side, x: rng.int(0, width - side), y: rng.int(0, height - side) };
          if (!items.some((other) => overlaps(item, other))) {
            items.push(item);
            break;
          }
        }
      }
      if (items.length === n && (!accept || accept(items, width))) return { picture: render(width, height, gray, items), items };
    }
  }
}

export function sampleQuestion(rng: Random, kind: Kind): Question {
  switch (kind) {
    case 'shape': {
      const { picture: p, items } = picture(rng, 1, NORMAL_SIZE);
      return { kind, images: [p], question: 'What shape is this?', answer: items[0].shape };
    }
    case 'color': {
      const n = rng.int(1, 3);
      const named = rng.pick(SHAPES);
      const shapes: Shape[] = [named];
      while (shapes.length < n) shapes.push(rng.pick(SHAPES.filter((s) => s !== named)));
      for (let i = shapes.length - 1; i > 0; i--) {
        const j = rng.int(0, i);
        [shapes[i], shapes[j]] = [shapes[j], shapes[i]];
      }
      const { picture: p, items } = picture(rng, n, NORMAL_SIZE, shapes);
      const color = items.find((item) => item.shape === named)!.color;
      return { kind, images: [p], question: `What color is the ${named}?`, answer: color };
    }
    case 'count': {
      const n = rng.int(1, 4);
      const { picture: p } = picture(rng, n, COUNT_SIZE);
      return { kind, images: [p], question: 'How many shapes are there?', answer: String(n) };
    }
    case 'side': {
      const centre = (item: Item) => item.x + item.side / 2;
      const { picture: p, items } = picture(rng, 2, NORMAL_SIZE, undefined, ([a, b], width) => {
        return centre(a) < width / 2 !== centre(b) < width / 2 && Math.abs(centre(a) - centre(b)) > width / 4;
      });
      const item = items[rng.int(0, 1)];
      return {
        kind,
        images: [p],
        question: `Is the ${item.color} ${item.shape} on the left or the right?`,
        answer: centre(item) < p.width / 2 ? 'left' : 'right',
      };
    }
    case 'compare': {
      const n1 = rng.int(1, 4);
      let n2 = rng.int(1, 3);
      if (n2 >= n1) n2 += 1;
      const first = picture(rng, n1, COUNT_SIZE).picture;
      const second = picture(rng, n2, COUNT_SIZE).picture;
      return {
        kind,
        images: [first, second],
        question: 'Which image has more shapes, the first or the second?',
        answer: n1 > n2 ? 'first' : 'second',
      };
    }
    case 'sum': {
      const a = rng.int(0, 9);
      const b = rng.int(0, 9);
      return { kind, images: [], question: `What is ${a} plus ${b}?`, answer: String(a + b) };
    }
    case 'motion': {
      for (;;) {
        const width = rng.int(64, 336);
        const height = rng.int(64, 336);
        const gray = rng.int(180, 255);
        const side = boxSide(rng, width, height, NORMAL_SIZE);
        const step = rng.int(Math.ceil(0.1 * width), Math.floor(0.15 * width));
        if (side + 3 * step > width) continue;
        const shape = rng.pick(SHAPES);
        const color = rng.pick(COLOR_NAMES);
        const right = rng.next() < 0.5;
        const x0 = rng.int(0, width - side - 3 * step);
        const y = rng.int(0, height - side);
        const xs = [0, 1, 2, 3].map((i) => x0 + i * step);
        if (!right) xs.reverse();
        const video = xs.map((x) => render(width, height, gray, [{ shape, color, x, y, side }]));
        return { kind, images: [], video, question: `Is the ${shape} moving left or right?`, answer: right ? 'right' : 'left' };
      }
    }
  }
}

/** `perKind` questions of every kind, interleaved kind by kind, fixed by `seed`. */
export function questionSet(seed: number, perKind: number): Question[] {
  const rng = new Random(seed);
  const out: Question[] = [];
  for (let i = 0; i < perKind; i++) for (const kind of KINDS) out.push(sampleQuestion(rng, kind));
  return out;
}
