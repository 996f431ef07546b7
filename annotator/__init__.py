"""annotator package."""
