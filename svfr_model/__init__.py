"""svfr_model: the SVFR video face restoration engine, importable without ComfyUI."""
