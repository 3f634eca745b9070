"""Procedural training clips for loom's demo model: one coloured shape moving over a plain background.

Every clip is fully described by a `ClipSpec` drawn from a seeded numpy generator, so the data set is the
same on every run. Frames are rendered with 4x4 supersampling (smooth edges) and returned as float32 in
[-1, 1], layout [3, F, H, W] (what the Wan VAE takes). Each spec also yields an English caption, with the
wording varied (word order, synonyms, phrasing of the direction) so that the text encoder has to matter.
"""
from dataclasses import dataclass

import numpy as np

SIZE = 128          # frame height and width
FRAMES = 17         # 4k+1 frames: the Wan VAE's causal time compression gives (17-1)/4+1 = 5 latent frames
SUPERSAMPLE = 4

COLOURS = {         # sRGB 0..255
    "red": (225, 30, 30),
    "green": (30, 200, 50),
    "blue": (40, 80, 240),
    "yellow": (245, 220, 30),
    "white": (245, 245, 245),
    "magenta": (225, 40, 215),
}
BACKGROUNDS = {
    "black": (5, 5, 5),
    "gray": (120, 120, 120),
    "blue": (25, 45, 130),
}
SHAPES = ("circle", "square", "triangle")
DIRECTIONS = {"right": (1, 0), "left": (-1, 0), "up": (0, -1), "down": (0, 1)}
GROWTH = ("none", "growing", "shrinking")

SHAPE_WORDS = {"circle": ("circle", "ball", "circle"), "square": ("square", "square", "box"),
               "triangle": ("triangle", "triangle", "triangle")}
DIRECTION_WORDS = {"right": ("right", "to the right"), "left": ("left", "to the left"),
                   "up": ("up", "upwards"), "down": ("down", "downwards")}
GROWTH_WORDS = {"growing": ("growing", "getting bigger"), "shrinking": ("shrinking", "getting smaller")}


@dataclass(frozen=True)
class ClipSpec:
    shape: str
    colour: str
    background: str
    direction: str
    growth: str
    radius: float       # half the shape's extent at the first frame, pixels
    start: tuple        # centre at the first frame (x, y), pixels
    travel: float       # distance moved from the first to the last frame, pixels
    wording: int        # which caption template


def colour_pairs():
    """Foreground/background pairs that stay distinguishable (no blue shape on the blue background)."""
    return [(c, b) for c in COLOURS for b in BACKGROUNDS if not (c == "blue" and b == "blue")]


def random_spec(rng, shape=None, colour=None, background=None, direction=None, growth=None):
    pairs = colour_pairs()
    if colour is None or background is None:
        c, b = pairs[rng.integers(len(pairs))]
        colour = colour or c
        background = background or b
    shape = shape or SHAPES[rng.integers(len(SHAPES))]
    direction = direction or list(DIRECTIONS)[rng.integers(len(DIRECTIONS))]
    growth = growth or GROWTH[rng.choice(3, p=[0.6, 0.2, 0.2])]
    radius = float(rng.uniform(11, 19))
    travel = float(rng.uniform(52, 76))
    dx, dy = DIRECTIONS[direction]
    # place the path so that the whole shape stays inside the frame from start to end
    margin = radius * 1.5 + 4
    along_lo, along_hi = margin, SIZE - margin - travel
    a = float(rng.uniform(along_lo, max(along_lo, along_hi)))
    across = float(rng.uniform(margin, SIZE - margin))
    if dx:
        x0 = a if dx > 0 else SIZE - a
        start = (x0, across)
    else:
        y0 = a if dy > 0 else SIZE - a
        start = (across, y0)
    return ClipSpec(shape, colour, background, direction, growth, radius, start, travel,
                    int(rng.integers(1 << 30)))


def caption(spec):
    w = spec.wording
    shape = SHAPE_WORDS[spec.shape][w % 3]
    dir_words = DIRECTION_WORDS[spec.direction][(w // 3) % 2]
    moving = ("moving", "going", "sliding")[(w // 6) % 3]
    thing = f"{spec.colour} {shape}"
    if spec.growth != "none":
        grow = GROWTH_WORDS[spec.growth][(w // 18) % 2]
        thing = f"{thing} {grow} and"
    bg = f"{spec.background} background"
    template = (w // 36) % 4
    if template == 0:
        return f"a {thing} {moving} {dir_words} on a {bg}"
    if template == 1:
        return f"a {thing} {moving} {dir_words}, {bg}"
    if template == 2:
        return f"{bg}, a {thing} {moving} {dir_words}"
    return f"on a {bg}, a {thing} {moving} {dir_words}"


def _coverage(shape, xs, ys, cx, cy, r):
    """Boolean inside-test on the supersampled grid."""
    if shape == "circle":
        return (xs - cx) ** 2 + (ys - cy) ** 2 <= r * r
    if shape == "square":
        return (np.abs(xs - cx) <= r) & (np.abs(ys - cy) <= r)
    # upright equilateral-ish triangle with its centroid at (cx, cy)
    top, base = cy - r * 1.15, cy + r * 0.85
    half = (ys - top) / (base - top) * r * 1.2
    return (ys >= top) & (ys <= base) & (np.abs(xs - cx) <= half)


def render(spec):
    """Frames of a clip: float32 [3, FRAMES, SIZE, SIZE] in [-1, 1]."""
    n = SIZE * SUPERSAMPLE
    grid = (np.arange(n, dtype=np.float32) + 0.5) / SUPERSAMPLE
    xs, ys = grid[None, :], grid[:, None]
    fg = np.asarray(COLOURS[spec.colour], np.float32) / 127.5 - 1
    bg = np.asarray(BACKGROUNDS[spec.background], np.float32) / 127.5 - 1
    dx, dy = DIRECTIONS[spec.direction]
    scale_end = {"none": 1.0, "growing": 1.6, "shrinking": 0.6}[spec.growth]
    out = np.empty((3, FRAMES, SIZE, SIZE), np.float32)
    for f in range(FRAMES):
        t = f / (FRAMES - 1)
        cx = spec.start[0] + dx * spec.travel * t
        cy = spec.start[1] + dy * spec.travel * t
        r = spec.radius * (1 + (scale_end - 1) * t)
        inside = _coverage(spec.shape, xs, ys, cx, cy, r).astype(np.float32)
        cov = inside.reshape(SIZE, SUPERSAMPLE, SIZE, SUPERSAMPLE).mean(axis=(1, 3))
        out[:, f] = bg[:, None, None] + (fg - bg)[:, None, None] * cov[None]
    return out


def dataset(seed, count):
    """`count` (spec, caption) pairs from one seed."""
    rng = np.random.default_rng(seed)
    specs = [random_spec(rng) for _ in range(count)]
    return [(s, caption(s)) for s in specs]


if __name__ == "__main__":
    for s, c in dataset(0, 12):
        print(c, "|", s.shape, s.colour, s.background, s.direction, s.growth)
