#!/usr/bin/env bash
# Peak RSS and wall time of a backfill with and without one 200 MB post line
# (docs/reliability.md). Usage: scripts/measure-long-line.sh [BIN] [DIR]
# BIN defaults to target/release/author-stats (build it first), DIR to a fresh
# directory under /dev/shm (tmpfs, so the disk is not measured).
set -euo pipefail
cd "$(dirname "$0")/.."
bin="${1:-target/release/author-stats}"
dir="${2:-$(mktemp -d /dev/shm/long-line.XXXXXX)}"
"$bin" sample-data "$dir/sample" >/dev/null 2>&1
mkdir -p "$dir/big/contentful"
cp "$dir/sample/contentful/authorProfile.jsonl.gz" "$dir/big/contentful/"
python3 - "$dir" <<'PY'
import gzip, json, shutil, sys
d = sys.argv[1]
posts = "contentful/all-blog-posts.jsonl.gz"
shutil.copyfile(f"{d}/sample/{posts}", f"{d}/big/{posts}")
with gzip.open(f"{d}/sample/contentful/authorProfile.jsonl.gz", "rt") as f:
    author = json.loads(f.readline())["id"]
# One more gzip member holding a single 200 MB post line.
with open(f"{d}/big/{posts}", "ab") as out, gzip.GzipFile(fileobj=out, mode="wb", compresslevel=1) as g:
    g.write(('{"author_id":"%s","title":"A 200 MB post","body":"' % author).encode())
    chunk = ("本文と画像 " * 10000).encode()
    written = 0
    while written < 200 * 1024 * 1024:
        g.write(chunk)
        written += len(chunk)
    g.write(b'","first_published_at":"2025-11-20T00:00:00Z"}\n')
PY
for src in sample big; do
  rm -rf "$dir/out"
  /usr/bin/time -f "$src: peak RSS %M KB, wall %e s" "$bin" run --source "$dir/$src" --dest "$dir/out" \
    --lookback-days 5475 --as-of 2025-11-25T17:45:00Z --log error --max-export-age-hours 0 \
    2>&1 >"$dir/$src.report.json" | tail -n 1
  python3 -c "import json,sys; r=json.load(open(sys.argv[1])); print('  records', r['posts_file']['records'], 'counted', r['posts']['counted'], 'bad', {k: v['count'] for k, v in r['posts_file']['bad'].items()})" "$dir/$src.report.json"
done
rm -rf "$dir"
