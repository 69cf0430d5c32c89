"""Device-type plugins: device types, identifier validation, key formats and frame verification.

See ``plugins.base`` for how to write one and ``plugins.registry`` for how they are found and enabled.
"""
