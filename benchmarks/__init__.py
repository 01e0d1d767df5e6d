"""
Benchmarks of twisted_lwstp beside what a Twisted user would otherwise use,
measured in the same process run: ``python -m benchmarks --help``.
"""
