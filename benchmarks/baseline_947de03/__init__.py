"""The evaluation code of commit 947de03, kept runnable as the baseline of benchmarks/bench_evaluate.py."""
