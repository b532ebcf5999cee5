#!/usr/bin/env python3
"""Benchmark the phantom: write N phantoms on W processes and print images per second.

    python tools/bench_phantom.py [--n 1000] [--size 256] [--workers 2]

The target in the phantom's issue: 1000 images of 256x256 in under 60 s on 2 cores.
A benchmark prints figures; it is not a timed test.
"""
import argparse, os, platform, tempfile, time
from crl_uls.phantom import write_phantoms, make_phantom, parse_size

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--n', type=int, default=1000); ap.add_argument('--size', default='256')
    ap.add_argument('--workers', type=int, default=os.cpu_count()); ap.add_argument('--seed', type=int, default=0)
    a = ap.parse_args()
    size = parse_size(a.size)
    t = time.perf_counter()
    for i in range(20): make_phantom(a.seed, i, size)
    one = (time.perf_counter() - t) / 20
    with tempfile.TemporaryDirectory() as d:
        t = time.perf_counter()
        write_phantoms(d, a.n, size, a.seed, a.workers, progress=False)
        dt = time.perf_counter() - t
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; python {platform.python_version()}")
    print(f"one phantom in memory, one process: {one*1000:.0f} ms")
    print(f"{a.n} phantoms of {size[0]}x{size[1]} written on {a.workers} processes: {dt:.1f} s = {a.n/dt:.1f} images/s")

if __name__ == '__main__': main()
