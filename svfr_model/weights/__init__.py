"""weights: finding model files, reading them safely, loading them strictly, and fetching them on request."""
