"""scikit-learn's own estimator checks over every family's fast estimators."""

from sklearn.utils.estimator_checks import parametrize_with_checks

from tests.contract import SKLEARN_CHECKS


def _expected_failed(estimator):
    for case in SKLEARN_CHECKS:
        if repr(case.make()) == repr(estimator):
            return case.expected_failed
    return {}


@parametrize_with_checks(
    [case.make() for case in SKLEARN_CHECKS],
    expected_failed_checks=_expected_failed,
    xfail_strict=True,
)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)
