"""The build pipeline: detect → restore cache → compile → release metadata → export → save cache."""
