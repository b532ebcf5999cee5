"""The batched pipeline against a naive chain of per-image `learn.predict` calls, on the same phantoms in one run.

    python tools/bench_pipeline.py MODELS [--n 64] [--naive 16] [--size 256] [--bs 16]

Prints images per second of both, their ratio, seconds per stage of the batched run, and peak memory.
"""
import argparse, json, warnings

if __name__ == '__main__':
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('models'); ap.add_argument('--n', type=int, default=64); ap.add_argument('--naive', type=int, default=16)
    ap.add_argument('--size', type=int, default=256); ap.add_argument('--bs', type=int, default=16)
    a = ap.parse_args()
    warnings.simplefilter('ignore')
    from crl_uls.phantom import make_phantom
    from crl_uls.pipeline import Pipeline, benchmark
    ps = [make_phantom(seed=4242, index=i, size=a.size) for i in range(a.n)]
    pipe = Pipeline.load(a.models, bs=a.bs)
    print(json.dumps(benchmark(pipe, [p.image for p in ps], ps[0].mm_per_px, n_naive=a.naive), indent=1))
