#!/usr/bin/env bash
# Ours against the strong Python peer (bench/strong_peer.py), side by side and
# interleaved on the benchmark's sample export: the nightly and the backfill,
# RUNS times each (default 10), wall time and peak RSS from /usr/bin/time, the
# mean PNG size of each backfill, and a check that the peer computed the same
# monthly series as ours for every author. Installs the peer's pinned packages
# into .tools/peer-venv. Results go to target/bench/peer.md.
#
#   scripts/bench-peer.sh [SAMPLE_DIR]   (default: target/bench/sample, made if missing)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${RUNS:-10}
as_of=2026-11-30T12:00:00Z
venv=.tools/peer-venv
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import isal, msgspec, PIL' 2>/dev/null; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check 'isal==1.9.1' 'msgspec==0.23.0' 'Pillow==13.0.0'
fi
cargo build --release --locked --quiet --bin author-stats
bin=target/release/author-stats
sample=${1:-target/bench/sample}
if [ ! -f "$sample/contentful/all-blog-posts.jsonl.gz" ]; then
  "$bin" sample-data "$sample" --log warn
fi
work=$(mktemp -d /dev/shm/peer-bench.XXXXXX 2>/dev/null || mktemp -d)
trap 'rm -rf "$work"' EXIT
results=target/bench/peer.txt
mkdir -p target/bench
: > "$results"
# Our nightly runs where a nightly runs: on a destination the previous night's
# backfill published (its chart state), so it draws the window's authors and
# whatever changed, not every chart of an empty destination. The copy is not
# timed.
seed_as_of=$(date -u -d "$as_of - 1 day" +%Y-%m-%dT%H:%M:%SZ)
"$bin" run --source "$sample" --dest "$work/seed" --lookback-days 5475 --as-of "$seed_as_of" \
  --max-export-age-hours 0 --gallery false --log warn >/dev/null
for i in $(seq 1 "$runs"); do
  # The floor, in the same run: ISA-L inflating the export on one core.
  /usr/bin/time -f "%e %M" -o "$work/t" "$venv/bin/python" bench/isal_floor.py \
    "$sample/contentful/all-blog-posts.jsonl.gz" >/dev/null
  echo "$i floor inflate $(cat "$work/t")" | tee -a "$results"
  for who in ours peer; do
    for mode in backfill nightly; do
      days=5475
      [ "$mode" = nightly ] && days=7
      out="$work/$who-$mode"
      rm -rf "$out"
      if [ "$who" = ours ] && [ "$mode" = nightly ]; then
        cp -a "$work/seed" "$out"
      fi
      if [ "$who" = ours ]; then
        /usr/bin/time -f "%e %M" -o "$work/t" "$bin" run --source "$sample" --dest "$out" \
          --lookback-days "$days" --as-of "$as_of" --max-export-age-hours 0 --gallery false \
          >"$work/report-$mode.json" 2>/dev/null
      else
        /usr/bin/time -f "%e %M" -o "$work/t" "$venv/bin/python" bench/strong_peer.py \
          "$sample" "$out" "$days" "$as_of" --series "$work/series-$mode.json" >/dev/null 2>&1
      fi
      echo "$i $who $mode $(cat "$work/t")" | tee -a "$results"
    done
  done
done
python3 - "$results" "$work" <<'PY'
import collections, glob, json, os, statistics, sys
results, work = sys.argv[1], sys.argv[2]
runs = collections.defaultdict(list)
for line in open(results):
    _, who, mode, wall, rss = line.split()
    runs[(who, mode)].append((float(wall), int(rss)))
peer = json.load(open(os.path.join(work, "series-backfill.json")))
ours = {}
for f in glob.glob(os.path.join(work, "ours-backfill/author-monthly-stats/*.json")):
    d = json.load(open(f))
    ours[d["slug"]] = [[m["month"], m["posts"]] for m in d["months"]]
# Every author the peer drew has the same series in ours. Ours also draws
# every other author of the master (one without posts gets an empty-state
# chart; one whose posts are all before the window keeps a current chart),
# which the peer, drawing the window's authors only, leaves out.
differ = [s for s in peer if ours.get(s) != peer[s]]
empty = sum(1 for s in ours if not ours[s])
ours_only = [s for s in ours if s not in peer]
def mean_png(path, pattern="*.png"):
    # The light charts (<slug>.png at the prefix); ours also writes dark/ and
    # compact images, reported on their own line.
    sizes = [os.path.getsize(p) for p in glob.glob(os.path.join(path, pattern))]
    return (sum(sizes) / len(sizes) if sizes else 0), len(sizes)
floor = statistics.median(w for w, _ in runs[("floor", "inflate")])
lines = [f"floor: ISA-L inflating the export on one core, {floor:.2f} s "
         f"({min(w for w, _ in runs[('floor', 'inflate')]):.2f}-{max(w for w, _ in runs[('floor', 'inflate')]):.2f})", ""]
lines += ["| run | peer | ours | ours faster by | ours / floor |", "| --- | --- | --- | --- | --- |"]
for mode in ("backfill", "nightly"):
    o, p = runs[("ours", mode)], runs[("peer", mode)]
    om, pm = statistics.median(w for w, _ in o), statistics.median(w for w, _ in p)
    orss, prss = statistics.median(r for _, r in o) / 1024, statistics.median(r for _, r in p) / 1024
    lines.append(f"| {mode} | {pm:.2f} s ({min(w for w, _ in p):.2f}-{max(w for w, _ in p):.2f}), {prss:.0f} MB "
                 f"| {om:.2f} s ({min(w for w, _ in o):.2f}-{max(w for w, _ in o):.2f}), {orss:.0f} MB | {pm / om:.2f}x "
                 f"| {om / floor:.2f}x |")
charts = os.path.join(work, "ours-backfill", "author-monthly-stats")
(om, on) = mean_png(charts)
(pm, pn) = mean_png(os.path.join(work, "peer-backfill", "author-monthly-stats"))
if pn == 0:
    (pm, pn) = mean_png(os.path.join(work, "peer-backfill"))
lines.append(f"| mean PNG, backfill | {pm / 1000:.1f} KB ({pn} charts) | {om / 1000:.1f} KB ({on} charts) | {pm / om:.2f}x smaller |")
for folder in ("dark", "compact", "compact-dark"):
    (vm, vn) = mean_png(os.path.join(charts, folder))
    lines.append(f"| ours also: {folder}/ | | {vm / 1000:.1f} KB ({vn} images) | |")
lines.append("")
# Where our time goes, from the last run's own report (stages, milliseconds).
for mode in ("backfill", "nightly"):
    try:
        st = json.load(open(os.path.join(work, f"report-{mode}.json")))["stages"]
    except (OSError, ValueError, KeyError):
        continue
    total = st["total_ms"] or 1
    parts = [("read + parse + count", st["read_posts_ms"] + st["read_authors_ms"]), ("select", st["select_ms"]),
             ("draw + publish", st["draw_and_publish_ms"])]
    shares = ", ".join(f"{name} {ms} ms ({100 * ms / total:.0f}%)" for name, ms in parts)
    lines.append(f"ours, {mode}: {total} ms in the run: {shares}; drawing CPU {st['draw_cpu_ms']} ms")
lines.append("")
lines.append(f"series: the peer drew {len(peer)} authors, ours {len(ours)} ({len(ours_only)} the peer leaves out: {empty} without posts, "
             f"{len(ours_only) - empty} with no post in the window); {len(differ)} of the peer's differ from ours" + (f" ({differ[:5]})" if differ else ""))
text = "\n".join(lines)
print(text)
open(results.replace(".txt", ".md"), "w").write(text + "\n")
sys.exit(1 if differ else 0)
PY
