"""Answering: the trained reader and the extractive answerer, optional generative answers, citations, prompts.

`REFUSAL` is the one "the articles do not say" answer, shared by every answerer, the prompts and the tests.
"""

REFUSAL = "The indexed articles do not say: I found nothing in them that answers this question."
