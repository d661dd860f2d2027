"""One module per pipeline phase; each takes the build context and returns a typed result."""
