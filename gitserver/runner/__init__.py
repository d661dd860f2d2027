"""Running releases: dynos from unpacked slugs, the supervisor, release phase, logs, one-offs."""
