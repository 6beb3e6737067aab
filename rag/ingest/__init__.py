"""Ingest: files, directories, JSONL corpora and URLs become Article values, and articles become chunks."""
