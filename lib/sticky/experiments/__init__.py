"""One module per chapter: its parameters (``PARAMETERS``) and its protocol as functions."""
