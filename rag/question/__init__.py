"""Reading a question: its words and stems, the outlets and dates it names, the kind of answer it wants,
and, for a follow-up, the standalone question it stands for."""
