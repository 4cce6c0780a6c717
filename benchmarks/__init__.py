"""Benchmarks of okx-onchain-earn against the other ways to call OKX On-chain earn.

As in msgspec's ``benchmarks/``: one module per contender (``benchmarks/contenders/``),
one module per question (``bench_*.py``) that times every contender the same way, and
one runner that prints the tables and writes JSON, Markdown and plots::

    python -m benchmarks            # everything, a few minutes
    python -m benchmarks --quick    # smaller sizes, about two minutes
    python -m benchmarks --only decode,client --out /tmp/bench

Every figure comes from the run that prints it. A contender whose package is missing
is reported as "not installed", never with a number.
"""
