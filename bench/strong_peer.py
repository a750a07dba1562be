"""The strong peer: the same job as a skilled Python engineer would write it
for production on two cores, to measure against (not part of the product).

- ISA-L's inflate on its own thread (isal.igzip_threaded), lines decoded by
  msgspec into a struct of the three used fields (the others are skipped);
- the same rules as ours for what counts: the master's duplicate ids, shared
  and unsafe slugs are not drawn; a post counts once in its author's month in
  Asia/Tokyo (UTC+9, no DST), drafts and posts after as_of do not; an author
  is drawn with a post in the window;
- charts of our design (1200x600) drawn with Pillow as palette indices onto a
  copy of a pre-drawn background, each label's anti-aliased bitmap rendered
  once and cached as palette indices (sixteen shades per text colour, as ours), encoded as PNG (palette
  images get filter 0) at zlib level 1;
- the drawing shared by two processes.

usage: strong_peer.py DATA_DIR OUT_DIR LOOKBACK_DAYS AS_OF [--series FILE]
prints the number of charts drawn; --series writes {slug: [[month, posts]...]}
so the benchmark can check the peer computes what we do.
"""

import json
import os
import sys
from datetime import datetime, timedelta, timezone
from multiprocessing import Pool

import msgspec
from isal import igzip_threaded
from PIL import Image, ImageDraw, ImageFont

FONT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "assets", "fonts", "NotoSansJP_500Medium.ttf")
W, H = 1200, 600
# Our default theme's colours, as palette entries.
PALETTE = {
    "background": (255, 255, 255),
    "title": (26, 32, 44),
    "text": (74, 85, 104),
    "grid": (226, 232, 240),
    "axis": (160, 174, 192),
    "bar": (43, 108, 176),
    "current": (156, 195, 230),
}
INDEX = {name: i for i, name in enumerate(PALETTE)}
# Anti-aliased text: each text colour over the background in SHADES steps,
# as palette entries after the base colours.
SHADES = 16
SHADE = {}
for _name in ("title", "text"):
    for _level in range(1, SHADES):
        _a = _level / SHADES
        _fg, _bg = PALETTE[_name], PALETTE["background"]
        SHADE[(_name, _level)] = len(INDEX) + len(SHADE)
        PALETTE[f"{_name}-{_level}"] = tuple(round(f * _a + b * (1 - _a)) for f, b in zip(_fg, _bg))
TOKYO = timedelta(hours=9)


class Post(msgspec.Struct):
    author_id: str
    first_published_at: str | None
    title: object = None


class Author(msgspec.Struct):
    id: str
    slug: str
    display_name: str


def parse_time(text):
    """An RFC 3339 time, in UTC."""
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(timezone.utc)


def unsafe(slug):
    return (not slug or slug in (".", "..") or len(slug.encode()) > 200
            or any(c in "/\\" or c.isspace() or ord(c) < 32 for c in slug))


def read(data, lookback, as_of):
    decode_author = msgspec.json.Decoder(Author)
    by_id, ids, slugs = {}, {}, {}
    with igzip_threaded.open(os.path.join(data, "contentful/authorProfile.jsonl.gz"), "rb") as f:
        for line in f:
            try:
                a = decode_author.decode(line)
            except msgspec.DecodeError:
                continue
            by_id[a.id] = a
            ids[a.id] = ids.get(a.id, 0) + 1
            slugs[a.slug] = slugs.get(a.slug, 0) + 1
    drawable = {i: a for i, a in by_id.items() if ids[i] == 1 and slugs[a.slug] == 1 and not unsafe(a.slug)}
    decode_post = msgspec.json.Decoder(Post)
    counts, last, seen = {}, {}, set()
    with igzip_threaded.open(os.path.join(data, "contentful/all-blog-posts.jsonl.gz"), "rb") as f:
        for line in f:
            try:
                p = decode_post.decode(line)
                if p.first_published_at is None:
                    continue
                t = parse_time(p.first_published_at)
            except (msgspec.DecodeError, ValueError):
                continue
            if t > as_of or t.year < 1990:
                continue
            key = (p.author_id, t, p.title if isinstance(p.title, str) else None)
            if key in seen:
                continue
            seen.add(key)
            local = t + TOKYO
            month = local.year * 12 + local.month - 1
            per = counts.setdefault(p.author_id, {})
            per[month] = per.get(month, 0) + 1
            if t > last.get(p.author_id, t - timedelta(days=1)):
                last[p.author_id] = t
    start = as_of - timedelta(days=lookback)
    end = (as_of + TOKYO).year * 12 + (as_of + TOKYO).month - 1
    jobs = []
    for author_id, when in sorted(last.items()):
        if when <= start or author_id not in drawable:
            continue
        per = counts[author_id]
        first = min(per)
        series = [(m, per.get(m, 0)) for m in range(first, end + 1)]
        a = drawable[author_id]
        jobs.append((a.slug, a.display_name, series))
    return jobs


_fonts = {}
_labels = {}
_background = None


def font(size):
    if size not in _fonts:
        _fonts[size] = ImageFont.truetype(FONT, size)
    return _fonts[size]


def label(text, size, colour):
    """The text drawn once per (text, size, colour): its anti-aliased coverage
    mapped to the colour's shades as palette indices, and where it covers."""
    key = (text, size, colour)
    if key not in _labels:
        f = font(size)
        box = f.getbbox(text)
        cover = Image.new("L", (max(1, box[2]), max(1, box[3])), 0)
        ImageDraw.Draw(cover).text((0, 0), text, font=f, fill=255)
        lut = [0] * 256
        for v in range(256):
            level = (v * SHADES + 127) // 255
            lut[v] = INDEX[colour] if level >= SHADES else SHADE.get((colour, level), INDEX["background"])
        indices = cover.point(lut)
        indices = Image.frombytes("P", cover.size, indices.tobytes())
        mask = cover.point(lambda v: 255 if (v * SHADES + 127) // 255 > 0 else 0).convert("1")
        _labels[key] = (indices, mask)
    return _labels[key]


def put(img, text, size, colour, xy, anchor="lt"):
    indices, mask = label(text, size, colour)
    w, h = indices.size
    x, y = xy
    if anchor[0] == "m":
        x -= w // 2
    elif anchor[0] == "r":
        x -= w
    if anchor[1] == "b":
        y -= h
    img.paste(indices, (x, y), mask)


def background():
    """What every chart shares: the fill, the legend, the axes' frame."""
    global _background
    if _background is None:
        img = Image.new("P", (W, H), INDEX["background"])
        img.putpalette([c for rgb in PALETTE.values() for c in rgb])
        d = ImageDraw.Draw(img)
        d.rectangle([1018, 71, 1030, 83], fill=INDEX["current"])
        put(img, "今月 (集計中)", 14, "text", (1040, 68))
        _background = img
    return _background.copy()


def draw(job, out, as_of):
    slug, name, series = job
    img = background()
    d = ImageDraw.Draw(img)
    put(img, name[:40], 26, "title", (32, 24))
    total = sum(n for _, n in series)
    put(img, f"合計 {total} 件 · 直近 12 か月 {sum(n for _, n in series[-12:])} 件", 16, "text", (32, 66))
    left, right, top, bottom = 90, W - 32, 110, H - 80
    peak = max(n for _, n in series) or 1
    step = max(1, -(-peak // 5))
    ymax = step * 5
    for k in range(6):
        y = bottom - (bottom - top) * k // 5
        d.line([left, y, right, y], fill=INDEX["grid"])
        put(img, str(step * k), 14, "text", (left - 10, y - 8), "rt")
    d.line([left, top, left, bottom], fill=INDEX["axis"])
    d.line([left, bottom, right, bottom], fill=INDEX["axis"])
    n = max(len(series), 12)
    width = (right - left) / n
    pad = (n - len(series)) / 2
    for i, (month, posts) in enumerate(series):
        if posts == 0:
            continue
        x0 = left + (i + pad + 0.1) * width
        x1 = left + (i + pad + 0.9) * width
        h = max(2, (bottom - top) * posts // ymax)
        fill = INDEX["current"] if i == len(series) - 1 else INDEX["bar"]
        d.rectangle([int(x0), bottom - h, max(int(x0) + 1, int(x1)), bottom], fill=fill)
        if month % 12 == 0 or i == 0:
            d.line([int(left + (i + pad) * width), bottom, int(left + (i + pad) * width), bottom + 8], fill=INDEX["axis"])
            put(img, str(month // 12), 14, "text", (int(left + (i + pad + 6) * width), bottom + 12), "mt")
    put(img, f"{as_of:%Y-%m-%d} 時点 · Asia/Tokyo", 14, "text", (W - 32, H - 8), "rb")
    img.save(os.path.join(out, slug + ".png"), compress_level=1)


def draw_all(args):
    jobs, out, as_of = args
    for job in jobs:
        draw(job, out, as_of)
    return len(jobs)


def main():
    data, out, lookback, as_of = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    as_of = parse_time(as_of).astimezone(timezone.utc)
    jobs = read(data, lookback, as_of)
    os.makedirs(out, exist_ok=True)
    if "--series" in sys.argv:
        path = sys.argv[sys.argv.index("--series") + 1]
        series = {slug: [[f"{m // 12:04d}-{m % 12 + 1:02d}", n] for m, n in s] for slug, _, s in jobs}
        with open(path, "w") as f:
            json.dump(series, f)
    halves = [jobs[0::2], jobs[1::2]]
    with Pool(2) as pool:
        drawn = sum(pool.map(draw_all, [(h, out, as_of) for h in halves]))
    print(drawn)


if __name__ == "__main__":
    main()
