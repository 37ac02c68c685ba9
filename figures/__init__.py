"""fluctinit.figures: one script per paper figure (cached computation apart from plotting)."""
