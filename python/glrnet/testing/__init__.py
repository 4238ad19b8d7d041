"""Test oracles (glrnet.testing.oracle): independent implementations the tests and benchmarks
compare the package against.  Not imported by the production path."""
