"""scripts/bench.py's sections and what they share."""
