"""Feed files: many files ingested in shared transactions, and the drop folder of `itpwatch watch`."""
