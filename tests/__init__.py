"""The test suite.

unit/ runs in this process, e2e/ starts servers, browsers and namespaces, support/ holds the
helpers both share (and benchmarks and scripts import as tests.support.*).
"""
