"""Imports every built-in operator module so that each registers its names."""

from degplug.degradations import blur, film_grain, haze, jpeg, noise, rain, resize, spatially_varying  # noqa: F401
