"""asmnet package."""
