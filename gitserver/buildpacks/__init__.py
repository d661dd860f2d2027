"""Buildpacks behind the pipeline's interface (gitserver.pipeline.buildpack)."""
