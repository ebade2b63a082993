"""DPPCA: common checks, accuracy, privacy accounting."""

import warnings

import numpy as np
import pytest
from sklearn.decomposition import PCA

from skpriv.accounting import privacy_spent
from skpriv.decomposition import DPPCA
from skpriv.exceptions import PrivacyLeakWarning
from skpriv.utils.estimator_checks import make_test_instance, parametrize_with_checks

ESTIMATORS = [
    make_test_instance(DPPCA),
    DPPCA(n_components=2, epsilon=2.0, data_norm=2.0, random_state=0),
    DPPCA(epsilon=2.0, data_norm="private", centering="none", random_state=0),
]


@parametrize_with_checks(ESTIMATORS)
def test_common_checks(estimator, check):
    check(estimator)
