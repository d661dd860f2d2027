"""The HTTP front end: routing, auth and app lookup in Python; C git speaks the protocol."""
