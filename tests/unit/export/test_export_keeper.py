"""The exporter follows the serving version: one build per version, a refusal kept with its reason."""

import threading
import time

from machine_learning.export.keeper import BUILDING, READY, REFUSED, OnnxExports
from machine_learning.export.onnx_model import ExportRejectedError, OnnxExport, Verification


def fake_export(version):
    return OnnxExport("m", version, b"onnx", Verification(8, 0.0, 1e-5, True, "ok"))


def test_each_serving_version_is_built_once_and_a_new_one_replaces_it():
    serving, built = ["3"], []
    exports = OnnxExports(lambda: serving[0], lambda version: built.append(version) or fake_export(version))
    assert exports.refresh().status == READY and exports.refresh().export.version == "3"
    serving[0] = "4"
    assert exports.refresh().export.version == "4"
    assert built == ["3", "4"]


def test_a_refused_version_stays_refused_with_its_reason_and_is_not_rebuilt():
    calls = []

    def refuse(version):
        calls.append(version)
        raise ExportRejectedError("ONNX probabilities differ")

    exports = OnnxExports(lambda: "5", refuse)
    first, again = exports.refresh(), exports.refresh()
    assert first.status == REFUSED and "differ" in first.reason and first.export is None
    assert again is first and calls == ["5"]


def test_nothing_serving_builds_nothing():
    exports = OnnxExports(lambda: None, lambda version: (_ for _ in ()).throw(AssertionError("built")))
    assert exports.refresh() is None and exports.state() is None


def test_follow_answers_at_once_and_builds_on_a_thread_of_its_own():
    release, built = threading.Event(), []

    def slow(version):
        release.wait(10)
        built.append(version)
        return fake_export(version)

    exports = OnnxExports(lambda: "6", slow)
    assert exports.follow().status == BUILDING and exports.follow().status == BUILDING  # not waiting for the build
    release.set()
    deadline = time.monotonic() + 10
    while (exports.state() is None or exports.state().status != READY) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert exports.follow().export.version == "6" and built == ["6"]
