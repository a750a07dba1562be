#!/usr/bin/env bash
# Measures a scaled-out backfill (plan, render per shard and every shard over
# two workers, finish) against one `run`, at multiples of the default sample
# (60,000 posts by 1,100 authors), and prints a Markdown table for
# docs/scale.md. Wall seconds and peak RSS come from /usr/bin/time.
#
#   scripts/measure-scale.sh [BIN] [FACTOR...]   (default: release, 1 10 100 posts)
#
# Samples are written once under $SCALE_DATA (default /tmp/author-stats-scale);
# 100x is 6 million posts, about 7 GB of gzip (22 minutes to write here). The
# factor `posts` is 10x the posts by 1x the authors, to show that the plan's
# memory follows authors x months, not posts.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${1:-target/release/author-stats}
shift || true
FACTORS=("$@")
[ ${#FACTORS[@]} -gt 0 ] || FACTORS=(1 10 100 posts)
DATA=${SCALE_DATA:-/tmp/author-stats-scale}
WORKERS=${SCALE_WORKERS:-2}
AS_OF=2025-11-25T17:45:00Z
WINDOW=(--lookback-days 5475 --as-of "$AS_OF" --max-export-age-hours 0)
[ -x "$BIN" ] || { echo "no binary at $BIN: cargo build --release --locked" >&2; exit 1; }
[ -x /usr/bin/time ] || { echo "needs /usr/bin/time (apt-get install time)" >&2; exit 1; }
mkdir -p "$DATA"

# measure LABEL CMD...: runs CMD, appends "wall_s rss_mb" to $DATA/LABEL.
measure() {
  local label=$1
  shift
  /usr/bin/time -f "%e %M" -o "$DATA/.time" "$@" >/dev/null 2>"$DATA/.stderr" || {
    cat "$DATA/.stderr" >&2
    echo "failed: $*" >&2
    exit 1
  }
  awk '{ printf "%.2f %.0f\n", $1, $2 / 1024 }' "$DATA/.time" > "$DATA/$label"
}

sample() { # sample DIR POSTS AUTHORS
  if [ ! -f "$1/contentful/all-blog-posts.jsonl.gz" ]; then
    echo "writing $2 posts by $3 authors to $1 ..." >&2
    "$BIN" sample-data "$1" --posts "$2" --authors "$3" >&2
  fi
}

row() { # row NAME LABEL SRC
  local name=$1 label=$2 src=$3 out="$DATA/out-$1"
  rm -rf "$out"
  mkdir -p "$out"
  measure plan "$BIN" plan --source "$src" --work "$out/work" --dest "$out/dest" "${WINDOW[@]}" --run-id "scale-$name"
  local shards
  shards=$(find "$out/work/shards" -name '*.jsonl' | wc -l)
  local first
  first=$(find "$out/work/shards" -name '*.jsonl' | sort | head -n 1 | xargs basename | cut -d. -f1)
  measure render1 "$BIN" render --work "$out/work" --shard "$first" --dest "$out/dest"
  # Every shard, WORKERS at a time (the first one again: found unchanged, as a retry).
  measure renders sh -c "find '$out/work/shards' -name '*.jsonl' | sed 's|.*/||; s|\\.jsonl||' | sort \
    | xargs -P $WORKERS -I{} '$BIN' render --work '$out/work' --shard {} --dest '$out/dest'"
  measure finish "$BIN" finish --work "$out/work" --dest "$out/dest"
  measure run "$BIN" run --source "$src" --dest "$out/one" "${WINDOW[@]}"
  local charts
  charts=$(find "$out/dest/author-monthly-stats" -name '*.png' | wc -l)
  if ! diff -rq -x index.html "$out/one/author-monthly-stats" "$out/dest/author-monthly-stats" >/dev/null; then
    echo "$label: the scaled-out charts differ from the run's" >&2
    exit 1
  fi
  read -r pw pr < "$DATA/plan"
  read -r r1w r1r < "$DATA/render1"
  read -r rw _ < "$DATA/renders"
  read -r fw fr < "$DATA/finish"
  read -r ow or < "$DATA/run"
  echo "| $label | $charts | $shards | $pw s, $pr MB | $r1w s, $r1r MB | $rw s | $fw s, $fr MB | $ow s, $or MB |"
  rm -rf "$out"
}

echo "| sample | charts | shards | plan | render, one shard | render, all over $WORKERS workers | finish | one run |"
echo "| --- | --- | --- | --- | --- | --- | --- | --- |"
for f in "${FACTORS[@]}"; do
  if [ "$f" = posts ]; then
    sample "$DATA/p10" 600000 1100
    row p10 "10x posts, 1x authors" "$DATA/p10"
  else
    sample "$DATA/x$f" $((60000 * f)) $((1100 * f))
    row "x$f" "${f}x" "$DATA/x$f"
  fi
done
