"""Sticky Priors: the library behind the executable research book."""
