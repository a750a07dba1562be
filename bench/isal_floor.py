"""The floor of the job: inflating the posts export with ISA-L on one core,
reading and discarding (the `isal` the strong peer pins). Every run must
inflate the whole export before the last line is read, so no run is faster.

usage: isal_floor.py POSTS.jsonl.gz   (prints the unpacked bytes)
"""
import sys

from isal import igzip

n = 0
with igzip.open(sys.argv[1], "rb") as f:
    while True:
        chunk = f.read(1 << 20)
        if not chunk:
            break
        n += len(chunk)
print(n)
