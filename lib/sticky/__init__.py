"""Sticky Priors: the library behind the executable research book."""

import warnings

# Without ipywidgets, tqdm.auto warns in every kernel that imports transformers or datasets. Widgets would
# need require.js from a CDN in the built book, so the text progress bar is what we want: silence the note.
warnings.filterwarnings("ignore", message="IProgress not found")

