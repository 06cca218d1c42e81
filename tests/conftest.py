"""Fixtures shared by every test layer. Each area keeps its fixtures in a module of tests/fixtures/."""

pytest_plugins = [
    "tests.fixtures.infra",
    "tests.fixtures.sim",
    "tests.fixtures.api",
    "tests.fixtures.signin",
    "tests.fixtures.smtp",
    "tests.fixtures.notifier",
    "tests.fixtures.reconciler",
    "tests.fixtures.fetcher",
    "tests.fixtures.e2e",
    "tests.fixtures.proxy",
]
