"""Model files: reading, writing and finding them."""
