"""diffusion: the two SVFR passes (scheduler, windows, denoiser, sampler, latents, passes), their options and presets, and the memory they need."""
