"""The deploy of a push: lock, export, build, add-ons, release phase, release, verify."""
