"""scikit-learn's checks and skpriv's privacy checks on every public estimator."""

from skpriv.utils import all_estimators
from skpriv.utils.estimator_checks import make_test_instance, parametrize_with_checks

ESTIMATORS = [make_test_instance(cls) for _, cls in all_estimators()]


@parametrize_with_checks(ESTIMATORS)
def test_estimators(estimator, check):
    check(estimator)


def test_all_estimators_are_found():
    names = [name for name, _ in all_estimators()]
    assert names == sorted(names)
    assert len(set(names)) == len(names)
