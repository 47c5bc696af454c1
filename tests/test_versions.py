"""The digests that key stored results (engine/versions.py) change with any result-shaping code,
the inference code included, and with the computing libraries' versions: an upgrade that changed
only inference/sessions.py once kept serving results the old code had computed."""
import numpy as np

from appliance.engine import versions, zeroshot
from appliance.library import load_catalog, searcher


def _tree(root, files):
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)


def test_a_change_in_any_result_shaping_folder_or_library_version_changes_the_key(tmp_path, monkeypatch):
    monkeypatch.setattr(versions, "PACKAGE", tmp_path)
    _tree(tmp_path, {f"{folder}/a.py": "x = 1\n" for folder in versions.RESULT_PACKAGES})
    _tree(tmp_path, {"service/api.py": "y = 1\n"})
    libraries = {"onnxruntime": "1.0"}
    before = versions._digest(versions.RESULT_PACKAGES, libraries)
    assert versions._digest(versions.RESULT_PACKAGES, dict(libraries)) == before  # stable
    (tmp_path / "service/api.py").write_text("y = 2\n")  # asks, does not shape a result
    assert versions._digest(versions.RESULT_PACKAGES, libraries) == before
    assert versions._digest(versions.RESULT_PACKAGES, {"onnxruntime": "1.1"}) != before
    for folder in versions.RESULT_PACKAGES:
        (tmp_path / folder / "a.py").write_text("x = 2\n")
        changed = versions._digest(versions.RESULT_PACKAGES, libraries)
        assert changed != before, folder
        before = changed


def test_the_shipped_keys_cover_inference_and_the_runtime():
    assert "inference" in versions.RESULT_PACKAGES
    assert {"onnxruntime", "opencv", "pyav", "ffmpeg", "numpy", "soundfile", "libsndfile", "soxr"} <= \
        set(versions._libraries())
    from appliance.engine.pipeline import ENGINE_VERSION
    from appliance.engine.visual import model_key
    assert ENGINE_VERSION == versions.ENGINE_VERSION

    class Encoder:  # model_key reads only these
        class entry:
            sha256 = "ab" * 32
        variant = "int8"
    assert model_key(Encoder()).endswith(versions.INFERENCE_VERSION)


def test_the_zero_shot_tables_of_an_earlier_version_go_once_the_new_ones_are_stored(tmp_path, monkeypatch):
    """One pair of tables (164 KB) per upgrade would otherwise pile up in the cache."""
    cache = tmp_path / "cache"
    cache.mkdir()
    monkeypatch.setattr(zeroshot.ZeroShot, "_compute", lambda self, search, labels: (np.ones((2, 3)), np.ones((2, 2))))
    old = [cache / "imagenet-affinity-0000000000000000.npy", cache / "imagenet-setting-0000000000000000.npy"]
    for path in old:
        np.save(path, np.zeros(1))
    unrelated = cache / "frames.sqlite3"
    unrelated.write_bytes(b"kept")
    zeroshot.ZeroShot(searcher(load_catalog()), ["dog", "cat"], "text-model", cache)
    kept = sorted(p.name for p in cache.iterdir())
    assert not any(path.exists() for path in old)
    assert len(kept) == 3 and "frames.sqlite3" in kept
    # Read back, the current pair stays.
    zeroshot.ZeroShot(searcher(load_catalog()), ["dog", "cat"], "text-model", cache)
    assert sorted(p.name for p in cache.iterdir()) == kept
