"""Fixtures shared by every test layer. Each area keeps its fixtures in a module of tests/fixtures/."""

pytest_plugins = [
    "tests.fixtures.infra",
]
