"""The plug-in registry: register, get, names, lazy targets, entry points of an installed package."""

from __future__ import annotations

import pytest

from aieng_nb import plugins
from aieng_nb.plugins import PluginLoadError, Registry, UnknownPluginError
from tests.plugin_packages import install_plugin_package


def test_lazy_targets_are_imported_on_first_get_only():
    reg = Registry("codec", "aieng_nb.tests.codecs")
    reg.register("b64", "base64:b64encode")
    assert reg.names() == ["b64"] and "b64" in reg
    assert reg.get("b64")(b"hi") == b"aGk="
    assert reg.get("b64") is reg.get("b64")


def test_unknown_names_list_the_known_ones_with_a_suggestion():
    reg = Registry("codec", "aieng_nb.tests.codecs")
    reg.register("base64", "base64:b64encode")
    reg.register("hex", "binascii:hexlify")
    with pytest.raises(
        UnknownPluginError, match=r"unknown codec 'base46' \(did you mean 'base64'\?\); known: base64, hex"
    ):
        reg.get("base46")


def test_a_target_that_does_not_import_is_a_clear_error():
    reg = Registry("codec", "aieng_nb.tests.codecs")
    reg.register("gone", "no_such_module_here:thing")
    with pytest.raises(PluginLoadError, match="'gone' \\(no_such_module_here:thing\\) cannot be loaded"):
        reg.get("gone")


def test_registering_a_taken_name_needs_replace():
    reg = Registry("codec", "aieng_nb.tests.codecs")
    reg.register("x", "json:dumps")
    with pytest.raises(ValueError, match="already registered"):
        reg.register("x", "json:loads")
    reg.register("x", "json:loads", replace=True)
    assert reg.get("x")("[1]") == [1]


def test_entry_points_of_an_installed_package_are_found(tmp_path, monkeypatch):
    install_plugin_package(
        tmp_path,
        monkeypatch,
        "aieng_test_greeters",
        "def hello(name):\n    return 'hello ' + name\n",
        {"aieng_nb.tests.greeters": {"hello": "aieng_test_greeters:hello"}},
    )
    reg = Registry("greeter", "aieng_nb.tests.greeters")
    assert reg.names() == ["hello"]
    assert reg.get("hello")("ann") == "hello ann"


def test_every_registry_has_its_own_entry_point_group():
    groups = {r.group for r in plugins.ALL.values()}
    assert groups == {
        "aieng_nb.stores",
        "aieng_nb.executors",
        "aieng_nb.report_kinds",
        "aieng_nb.drift_tests",
        "aieng_nb.pii_detectors",
    }
