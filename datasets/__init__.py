"""Landmark data: schemas, dataset formats (readers and writers) and the SQLite workspace store.

This package is the bottom layer of ASMNet Studio: it imports nothing of ours, and never torch or gradio.
"""
