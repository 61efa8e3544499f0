"""Slices: the same figures for each group of images a user names (camera, site, skin tone, ...)."""
