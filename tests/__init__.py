"""The test suite: unit/ (in process), e2e/ (servers, browsers, namespaces), support/ (shared helpers)."""
