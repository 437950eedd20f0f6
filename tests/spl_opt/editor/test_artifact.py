import pytest

from spl_opt.core.errors import ConfigError
from spl_opt.editor.artifact import editor_dir, load_editor_module, read_manifest


def test_the_shipped_editor_is_named_builtin_and_loads():
    path = editor_dir("builtin:embedded")
    manifest = read_manifest(path)
    assert manifest.models["editor"] == "embedded:qwen-1.5b" and len(manifest.tasks) == 12
    assert load_editor_module(path).propose.demos  # its demonstrations came with it


def test_a_path_is_a_path_and_an_unknown_builtin_is_one_clear_error(tmp_path):
    assert editor_dir(str(tmp_path)) == tmp_path
    with pytest.raises(ConfigError, match="no built-in editor 'nope'; the package ships: embedded"):
        editor_dir("builtin:nope")
