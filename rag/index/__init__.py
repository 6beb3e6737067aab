"""The index: the article registry (SQLite), chunk vectors (Chroma), the lexical BM25 index and the embedder."""
