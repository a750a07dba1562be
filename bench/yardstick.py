"""The yardstick: the same job done the way the system this replaces did it
(Python, gzip, json, matplotlib on the Agg backend), used only to measure
against. Not part of the product.

usage: yardstick.py DATA_DIR OUT_DIR LOOKBACK_DAYS AS_OF
prints the number of charts drawn.
"""
import gzip
import json
import os
import sys
from collections import defaultdict
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import warnings

import matplotlib

matplotlib.use("Agg")
# Like the system it stands for, it draws Japanese names with a font that lacks
# them; the warnings about it are left out of the benchmark output.
warnings.filterwarnings("ignore", category=UserWarning)
import matplotlib.pyplot as plt  # noqa: E402


def main():
    data, out, lookback, as_of = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    as_of = datetime.fromisoformat(as_of.replace("Z", "+00:00"))
    start = as_of - timedelta(days=lookback)
    zone = ZoneInfo("Asia/Tokyo")
    authors = {}
    with gzip.open(os.path.join(data, "contentful/authorProfile.jsonl.gz"), "rt", encoding="utf-8", errors="replace") as f:
        for line in f:
            try:
                a = json.loads(line)
                authors[a["id"]] = a
            except (ValueError, KeyError):
                pass
    months = defaultdict(lambda: defaultdict(int))
    last = {}
    with gzip.open(os.path.join(data, "contentful/all-blog-posts.jsonl.gz"), "rt", encoding="utf-8", errors="replace") as f:
        for line in f:
            try:
                p = json.loads(line)
                t = p["first_published_at"]
                if t is None or p["author_id"] not in authors:
                    continue
                t = datetime.fromisoformat(t.replace("Z", "+00:00"))
            except (ValueError, KeyError):
                continue
            if t > as_of:
                continue
            local = t.astimezone(zone)
            months[p["author_id"]][(local.year, local.month)] += 1
            last[p["author_id"]] = max(last.get(p["author_id"], t), t)
    os.makedirs(out, exist_ok=True)
    end = as_of.astimezone(zone)
    drawn = 0
    for author_id, when in sorted(last.items()):
        if when <= start:
            continue
        counts = months[author_id]
        y, m = min(counts)
        xs, ys = [], []
        while (y, m) <= (end.year, end.month):
            xs.append(f"{y}-{m:02d}")
            ys.append(counts.get((y, m), 0))
            y, m = (y + 1, 1) if m == 12 else (y, m + 1)
        fig, ax = plt.subplots(figsize=(12, 6), dpi=100)
        ax.bar(range(len(xs)), ys, color="#2b6cb0")
        step = max(1, len(xs) // 15)
        ax.set_xticks(range(0, len(xs), step))
        ax.set_xticklabels(xs[::step], rotation=45, ha="right")
        ax.set_title(authors[author_id]["display_name"])
        ax.set_ylabel("posts")
        fig.tight_layout()
        fig.savefig(os.path.join(out, authors[author_id]["slug"].replace("/", "_") + ".png"))
        plt.close(fig)
        drawn += 1
    print(drawn)


if __name__ == "__main__":
    main()
