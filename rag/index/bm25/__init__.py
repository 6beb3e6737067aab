"""BM25 over the chunks and the articles, scored in memory from the postings FTS5 holds, saved beside the index."""
