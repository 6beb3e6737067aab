"""Retrieval: dense and lexical candidates fused into passages, grouped by article."""
