"""pytest plugin: ``privacy_budget`` and ``dp_check`` fixtures, ``--skpriv-report``.

Registered through the ``pytest11`` entry point, so installing skpriv makes
the fixtures available; nothing from skpriv is imported until a fixture is
used (pytest loads the plugin in every session).
"""

import pytest

_RECORDS_KEY = pytest.StashKey[list]()


def pytest_addoption(parser):
    group = parser.getgroup("skpriv", "skpriv privacy checks")
    group.addoption(
        "--skpriv-report",
        action="store_true",
        default=False,
        help="print what each privacy_budget / dp_check assertion measured",
    )
    group.addoption(
        "--skpriv-dp-runs",
        type=int,
        default=None,
        help="n_runs for the dp_check fixture (default: check_dp's own)",
    )


def pytest_configure(config):
    config.stash[_RECORDS_KEY] = []


def _records(request):
    return request.config.stash.setdefault(_RECORDS_KEY, [])


@pytest.fixture
def privacy_budget(request):
    """``privacy_budget(obj, epsilon, delta=None)``: assert the spend fits.

    Calls :func:`skpriv.testing.assert_privacy_spent` (nothing uncovered,
    composed epsilon within the budget) and records the spend for
    ``--skpriv-report``.
    """
    from ._dp import assert_privacy_spent

    def check(obj, epsilon, delta=None):
        spent = assert_privacy_spent(obj, epsilon, delta)
        _records(request).append(
            (
                request.node.nodeid,
                "privacy_budget",
                f"spent {spent.epsilon:.4g} (delta {spent.delta:.3g}) of {epsilon:g}",
            )
        )
        return spent

    return check


@pytest.fixture
def dp_check(request):
    """:func:`skpriv.testing.check_dp` with ``--skpriv-dp-runs`` as default ``n_runs``.

    Every call is seeded from the test id unless ``random_state`` is given,
    so that a CI failure reproduces; results go to ``--skpriv-report``.
    """
    import zlib

    from ._dp import check_dp

    n_runs = request.config.getoption("--skpriv-dp-runs")

    def check(estimator, X=None, y=None, **kwargs):
        if n_runs is not None:
            kwargs.setdefault("n_runs", n_runs)
        kwargs.setdefault("random_state", zlib.crc32(request.node.nodeid.encode()))
        try:
            result = check_dp(estimator, X, y, **kwargs)
        except AssertionError as exc:
            _records(request).append(
                (request.node.nodeid, "dp_check", f"FAILED: {exc}")
            )
            raise
        _records(request).append(
            (
                request.node.nodeid,
                "dp_check",
                f"bound {result.epsilon_lower_bound:.3g} <= claim {result.epsilon:.3g} "
                f"({result.statistic}, {result.n_runs} runs, {result.seconds:.1f} s, "
                f"detects up to {result.max_detectable_epsilon:.2f})",
            )
        )
        return result

    return check


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if not config.getoption("--skpriv-report"):
        return
    records = config.stash.get(_RECORDS_KEY, [])
    terminalreporter.section("skpriv privacy report")
    if not records:
        terminalreporter.write_line("no privacy_budget or dp_check assertions ran")
    for nodeid, kind, text in records:
        terminalreporter.write_line(f"{nodeid}  [{kind}]  {text}")
