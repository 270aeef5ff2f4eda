"""A bundle whose model gives K logits must list K classes: otherwise every prediction would name
the wrong class (or an index past the list), so the Classifier refuses it with one line."""
import json

import numpy as np
import pytest

from edgecl_runtime.errors import BundleError
from edgecl_runtime.predict.classifier import Classifier
from tests.runtime.rt_factory import make_bundle, rehash


def test_more_classes_than_logits_is_refused(tmp_path):
    bundle = make_bundle(tmp_path / "b", k=4, classes=[f"c{i}" for i in range(5)])
    with pytest.raises(BundleError, match="4 (logits|columns).* 5 classes"):
        Classifier(bundle)  # the golden set already disagrees with the class list


def test_a_model_output_narrower_than_the_class_list_is_refused_even_with_a_matching_golden_set(tmp_path):
    bundle = make_bundle(tmp_path / "b", k=4, classes=[f"c{i}" for i in range(5)])
    with np.load(bundle / "golden.npz") as npz:
        golden = {k: npz[k] for k in npz.files}
    golden["logits"] = np.concatenate([golden["logits"], golden["logits"][:, :1]], axis=1)
    np.savez(bundle / "golden.npz", **golden)
    rehash(bundle)
    with pytest.raises(BundleError, match="4 logits but 5 classes"):
        Classifier(bundle)  # the model's declared output (4) is what the class list must match


def test_a_matching_class_list_loads(tmp_path):
    bundle = make_bundle(tmp_path / "b", k=4)
    clf = Classifier(bundle)
    assert len(clf.classes) == 4
    assert json.loads((bundle / "manifest.json").read_text())["output"]["shape"][-1] == 4
    clf.close()
