"""What a model's output must be to become an answer, and the answer made of it."""

import math

import numpy as np
import pytest

from mlcycle.serve.app import ModelServer
from mlcycle.serve.models import ModelFailure, checked


@pytest.mark.parametrize(
    "probs",
    [
        [math.nan] + [1 / 11] * 11,
        [math.inf] + [0.0] * 11,
        [-math.inf, 1.0, 1.0],
        [1.5, -0.5],  # sums to 1, outside [0, 1]
        [0.5, 0.4],  # in [0, 1], does not sum to 1
        [],
    ],
)
def test_anything_but_a_finite_probability_vector_is_a_model_failure(probs):
    with pytest.raises(ModelFailure, match="not a finite probability vector"):
        checked(probs)


def test_an_answer_is_the_best_class_and_the_probabilities_rounded_to_six_places():
    class Package:
        labels = [f"w{i}" for i in range(12)]
        decision = None  # not a thresholded (table) model

    class Model:
        package = Package()

    rng = np.random.default_rng(0)
    for row in rng.dirichlet(np.ones(12), 2000).astype(np.float32).tolist():
        answer = ModelServer._answer(Model(), checked(row))
        rounded = [round(p, 6) for p in row]
        best = max(range(12), key=row.__getitem__)  # the first of equal ones
        assert answer == {
            "label": f"w{best}",
            "confidence": rounded[best],
            "probabilities": dict(zip(Package.labels, rounded)),
        }
    tie = ModelServer._answer(Model(), checked([0.5, 0.5] + [0.0] * 10))
    assert tie["label"] == "w0" and tie["confidence"] == 0.5
