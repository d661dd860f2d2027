"""cedarbox: a local, faithful emulator of `git push heroku` for Python apps."""

__version__ = "0.1.0"
