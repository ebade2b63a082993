"""DPStandardScaler and DPMinMaxScaler: checks, noise scales, privacy, pipelines."""

import math
import warnings

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.compose import ColumnTransformer
from sklearn.datasets import load_breast_cancer
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import Normalizer

from skpriv.accounting import epsilon_of, privacy_spent
from skpriv.exceptions import PrivacyLeakWarning
from skpriv.linear_model import DPLogisticRegression
from skpriv.model_selection import StableKFold
from skpriv.preprocessing import DPMinMaxScaler, DPStandardScaler
from skpriv.utils.estimator_checks import make_test_instance, parametrize_with_checks

from ..mechanisms._stats import ALPHA, Z

ESTIMATORS = [
    make_test_instance(DPStandardScaler),
    make_test_instance(DPMinMaxScaler),
    DPStandardScaler(epsilon=2.0, delta=1e-5, bounds=(0, 1), random_state=0),
    DPStandardScaler(epsilon=2.0, bounds="private", random_state=0),
    DPMinMaxScaler(epsilon=2.0, bounds="private", random_state=0),
]


@parametrize_with_checks(ESTIMATORS)
def test_common_checks(estimator, check):
    check(estimator)
