"""
The chaos soak: ``python -m soak --help``.
"""
