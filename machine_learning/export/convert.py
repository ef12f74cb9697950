"""The whole production pipeline converted to ONNX with skl2onnx, plus converters for what it cannot convert.

skl2onnx converts the ``Pipeline`` and its ``ColumnTransformer`` / ``OrdinalEncoder`` itself. Two parts get
converters of ours, handed to it as custom parsers so nothing is registered for other users of skl2onnx:

- the ``FunctionTransformer`` wrapping :func:`add_engineered_features` (skl2onnx converts only the identity
  one): the three engineered features as ONNX ``Mul`` / ``Add`` nodes in float64, the same arithmetic;
- the ``HistGradientBoostingClassifier``: skl2onnx 1.20 writes its categorical splits as ``<=`` thresholds,
  which is wrong. Ours writes the trees as one ``ai.onnx.ml`` ``TreeEnsemble`` (opset 5) in float64, with
  categorical splits as set-membership nodes over the encoder's codes (the classifier's own re-encoding and its
  "unknown category counts as missing" rule folded into the sets), then adds the baseline and applies the
  softmax of the multinomial loss.

The model takes one input per raw feature column, shape ``[N, 1]``: float64 for numbers, string for categories.
It returns ``label`` (string ``[N]``) and ``probabilities`` (float64 ``[N, classes]``, columns in the order of
the ``classes`` metadata entry).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from machine_learning.data.schema import CATEGORICAL_FEATURES, FEATURE_COLUMNS
from machine_learning.export.trees import tree_ensemble_attributes
from machine_learning.training.model import ENGINEERED_FEATURES, LEVEL_ACHIEVEMENT_WEIGHT, add_engineered_features

MAIN_OPSET = 18
ML_OPSET = 5  # ai.onnx.ml TreeEnsemble: float64 splits and set-membership nodes
# skl2onnx 1.20 refuses to write ai.onnx.ml above 3: the model is written at 3, then its ai.onnx.ml import is
# raised to 5 (the other ai.onnx.ml node it writes, LabelEncoder, is unchanged in 5) and the model is checked.
_SKL2ONNX_ML_OPSET = 3
_FEATURES_ALIAS = "MlopsEngineeredFeatures"
_CLASSIFIER_ALIAS = "MlopsHistGradientBoostingClassifier"
_FACTORS = (("SessionsPerWeek", "AvgSessionDurationMinutes"), ("PlayerLevel", "AchievementsUnlocked"))


class UnsupportedExportError(Exception):
    """The pipeline holds a part this exporter cannot express in ONNX."""


def convert_pipeline(pipeline: Any, metadata: dict[str, str] | None = None) -> bytes:
    """Convert the fitted production pipeline to a serialized ONNX model (not yet verified).

    Args:
        pipeline: The fitted pipeline of :func:`machine_learning.training.model.build_pipeline`.
        metadata: Extra ``metadata_props`` entries (model name, version...).

    Returns:
        The ONNX model's bytes.

    Raises:
        UnsupportedExportError: A step is not one the converters know.

    """
    from skl2onnx import convert_sklearn
    from skl2onnx.common._registration import register_converter, register_shape_calculator
    from skl2onnx.common.data_types import DoubleTensorType, StringTensorType
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.preprocessing import FunctionTransformer

    register_shape_calculator(_FEATURES_ALIAS, _typed_already, overwrite=True)
    register_converter(_FEATURES_ALIAS, _convert_features, overwrite=True)
    register_shape_calculator(_CLASSIFIER_ALIAS, _typed_already, overwrite=True)
    register_converter(_CLASSIFIER_ALIAS, _convert_classifier, overwrite=True)
    inputs = [
        (name, StringTensorType([None, 1]) if name in CATEGORICAL_FEATURES else DoubleTensorType([None, 1]))
        for name in FEATURE_COLUMNS
    ]
    try:
        model = convert_sklearn(
            pipeline,
            initial_types=inputs,
            target_opset={"": MAIN_OPSET, "ai.onnx.ml": _SKL2ONNX_ML_OPSET},
            custom_parsers={FunctionTransformer: _parse_features, HistGradientBoostingClassifier: _parse_classifier},
        )
    except (RuntimeError, NotImplementedError, TypeError, KeyError) as error:  # skl2onnx's own refusals
        raise UnsupportedExportError(f"skl2onnx cannot convert the pipeline: {str(error)[:300]}") from error
    import onnx

    for opset in model.opset_import:
        if opset.domain == "ai.onnx.ml":
            opset.version = ML_OPSET
    onnx.checker.check_model(model, full_check=True)
    classes = [str(label) for label in pipeline.classes_]
    entries = {"classes": ",".join(classes), "inputs": ",".join(FEATURE_COLUMNS), **(metadata or {})}
    for key, value in entries.items():
        model.metadata_props.add(key=key, value=value)
    return bytes(model.SerializeToString())


def _typed_already(operator: Any) -> None:
    """Shape calculator of our operators: their parsers declare the output types."""


def _parse_features(scope: Any, model: Any, inputs: list[Any], custom_parsers: Any = None) -> list[Any]:
    from skl2onnx.common.data_types import DoubleTensorType

    if model.func is None:  # the identity (a fitted "passthrough" of the ColumnTransformer)
        return inputs
    if model.func is not add_engineered_features or model.inverse_func is not None or model.kw_args:
        raise UnsupportedExportError(f"no ONNX converter for FunctionTransformer({model.func!r})")
    by_name = {variable.raw_name: variable for variable in inputs}
    operator = scope.declare_local_operator(_FEATURES_ALIAS, model)
    operator.inputs = [by_name[name] for pair in _FACTORS for name in pair]
    added = [scope.declare_local_variable(name, DoubleTensorType([None, 1])) for name in ENGINEERED_FEATURES]
    operator.outputs.extend(added)
    return [*inputs, *added]


def _convert_features(scope: Any, operator: Any, container: Any) -> None:
    """``add_engineered_features`` in float64: the products of two columns, and their weighted sum."""
    from onnx import TensorProto

    sessions, minutes, level, achievements = (variable.full_name for variable in operator.inputs)
    weekly, level_times, score = (variable.full_name for variable in operator.outputs)
    weight, scaled = scope.get_unique_variable_name("level_weight"), scope.get_unique_variable_name("scaled")
    container.add_initializer(weight, TensorProto.DOUBLE, [], [LEVEL_ACHIEVEMENT_WEIGHT])
    for inputs, output in (
        ([sessions, minutes], weekly),
        ([level, achievements], level_times),
        ([level_times, weight], scaled),
    ):
        container.add_node("Mul", inputs, output, name=scope.get_unique_operator_name("Mul"))
    container.add_node("Add", [weekly, scaled], score, name=scope.get_unique_operator_name("Add"))


def _parse_classifier(scope: Any, model: Any, inputs: list[Any], custom_parsers: Any = None) -> list[Any]:
    from skl2onnx.common.data_types import DoubleTensorType, StringTensorType

    operator = scope.declare_local_operator(_CLASSIFIER_ALIAS, model)
    operator.inputs = inputs
    label = scope.declare_local_variable("label", StringTensorType([None]))
    probabilities = scope.declare_local_variable("probabilities", DoubleTensorType([None, len(model.classes_)]))
    operator.outputs.extend([label, probabilities])
    return [label, probabilities]


def _convert_classifier(scope: Any, operator: Any, container: Any) -> None:
    """Trees (TreeEnsemble, float64) + baseline, softmax, and the label of the largest probability."""
    from onnx import TensorProto, numpy_helper

    classifier = operator.raw_operator
    if classifier.n_trees_per_iteration_ < 2 or type(classifier._loss).__name__ != "HalfMultinomialLoss":
        raise UnsupportedExportError("only multiclass HistGradientBoostingClassifier models are exported")
    name = scope.get_unique_variable_name
    matrix = name("features64")
    container.add_node("Cast", operator.inputs[0].full_name, matrix, to=TensorProto.DOUBLE, name=name("Cast"))
    attributes = tree_ensemble_attributes(classifier)
    tensors = {key: numpy_helper.from_array(value, key) for key, value in attributes.pop("tensors").items()}
    scores, raw, baseline = name("tree_scores"), name("raw_scores"), name("baseline")
    container.add_node(
        "TreeEnsemble",
        matrix,
        scores,
        op_domain="ai.onnx.ml",
        op_version=_SKL2ONNX_ML_OPSET,
        name=name("TreeEnsemble"),
        **attributes,
        **tensors,
    )
    container.add_initializer(
        baseline,
        TensorProto.DOUBLE,
        [1, classifier.n_trees_per_iteration_],
        np.asarray(classifier._baseline_prediction, dtype="float64").ravel().tolist(),
    )
    container.add_node("Add", [scores, baseline], raw, name=name("Add"))
    probabilities, label = (variable.full_name for variable in reversed(operator.outputs))
    container.add_node("Softmax", raw, probabilities, axis=-1, name=name("Softmax"))
    best, classes = name("best"), name("classes")
    container.add_node("ArgMax", probabilities, best, axis=1, keepdims=0, name=name("ArgMax"))
    container.add_initializer(
        classes, TensorProto.STRING, [len(classifier.classes_)], [str(label).encode() for label in classifier.classes_]
    )
    container.add_node("Gather", [classes, best], label, axis=0, name=name("Gather"))
