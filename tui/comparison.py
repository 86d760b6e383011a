"""Which human distributions to set beside a model's answer: :mod:`core.compared`.

Kept for the screens that import it from here (Browse, Demo); new code imports
:mod:`core.compared`.
"""

from core.compared import (
    DEFAULT_COMPARED,
    Compared,
    CountrySimilarity,
    choose,
    closest_countries,
    conditioned_key,
    question_similarities,
)

__all__ = [
    "DEFAULT_COMPARED",
    "Compared",
    "CountrySimilarity",
    "choose",
    "closest_countries",
    "conditioned_key",
    "question_similarities",
]
