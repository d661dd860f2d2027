"""Running releases: the supervisor and its dynos, the route table it publishes, one-offs."""
