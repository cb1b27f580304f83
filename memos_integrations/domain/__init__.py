"""The vocabulary every layer shares: memory records, engine requests and results, the one
recall options model."""
