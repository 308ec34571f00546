"""The app's lists of choices (written out so that the CLI reads configs without torch) equal
the library's constants."""

from qdl.app import choices
from qdl.data.qchem import FEATURE_SETS
from qdl.grad import DiffMethod
from qdl.models import ANSATZE, DTYPES
from qdl.nn.layer import INITS


def test_choices_are_the_library_constants():
    """A new ansatz, gradient method, init or dtype in the library must be offered by the app."""
    assert ANSATZE == choices.ANSATZE
    assert tuple(m.value for m in DiffMethod) == choices.DIFF_METHODS
    assert INITS == choices.INITS
    assert tuple(DTYPES) == choices.PRECISIONS
    assert FEATURE_SETS == choices.FEATURE_SETS
