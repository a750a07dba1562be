#!/usr/bin/env bash
# The inflate backends on the benchmark's export (docs/performance.md, "At the
# machine's floor"): flate2 with zlib-rs (what ships) and with zlib-ng (needs
# cmake), each inflating the whole posts export from memory on one core (best
# of 5), and ISA-L through Python's `isal` (the floor bench-peer.sh measures).
# A throwaway crate under target/ holds the harness; nothing here ships.
#
#   scripts/measure-inflate.sh [POSTS.jsonl.gz]   (default: the bench sample's)
set -euo pipefail
cd "$(dirname "$0")/.."
gz=${1:-target/bench/sample/contentful/all-blog-posts.jsonl.gz}
[ -f "$gz" ] || { echo "no export at $gz (scripts/bench-peer.sh makes one)" >&2; exit 1; }
dir=target/inflate-bench
mkdir -p "$dir/src"
cat > "$dir/src/main.rs" <<'RS'
use std::io::Read;
use std::time::Instant;
fn main() {
    let gz = std::fs::read(std::env::args().nth(1).unwrap()).unwrap();
    let (mut best, mut n) = (f64::MAX, 0);
    for _ in 0..5 {
        let t = Instant::now();
        let mut d = flate2::read::MultiGzDecoder::new(&gz[..]);
        let mut buf = vec![0u8; 1 << 20];
        n = 0;
        loop {
            let k = d.read(&mut buf).unwrap();
            if k == 0 {
                break;
            }
            n += k;
        }
        best = best.min(t.elapsed().as_secs_f64());
    }
    println!("{:.3} s for {} MB", best, n / 1_000_000);
}
RS
for backend in zlib-rs zlib-ng; do
  cat > "$dir/Cargo.toml" <<TOML
[package]
name = "inflate-bench"
version = "0.1.0"
edition = "2021"
[workspace]
[dependencies]
flate2 = { version = "1", default-features = false, features = ["$backend"] }
TOML
  started=$(date +%s)
  (cd "$dir" && cargo build --release --quiet)
  echo "flate2 + $backend (built in $(( $(date +%s) - started )) s): $("$dir/target/release/inflate-bench" "$gz")"
done
venv=.tools/peer-venv
if [ -x "$venv/bin/python" ]; then
  best=9
  for _ in 1 2 3 4 5; do
    t=$( { /usr/bin/time -f "%e" "$venv/bin/python" bench/isal_floor.py "$gz" >/dev/null; } 2>&1 )
    best=$(python3 -c "print(min($best, $t))")
  done
  echo "ISA-L (python isal, process wall time, best of 5): $best s"
fi
