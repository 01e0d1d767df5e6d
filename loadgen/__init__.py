"""
Load tools shared by the tests, the benchmarks and the soak: a WebSocket
client on wsproto, and running a Python module as a child process.  A
developer tool; not part of the installed package.
"""
