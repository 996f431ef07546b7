"""Benchmarks of ASMNet Studio (not tests): ``python -m bench [NAME ...] [--quick]``.

Each benchmark measures its subject against peers in the same run, prints a markdown table and writes
``bench/results/<name>.json`` with the machine it ran on. See ``bench/__main__.py`` for the list and
``bench/RESULTS.md`` for the latest full run.
"""
