"""Receiving pushes: ref rules and the pre-receive hook that gates a push on its build."""
