"""The cache: frames by exact pixels, results, LRU eviction, concurrency; the frame hash."""
from __future__ import annotations

import multiprocessing
import os
import signal
import sys
import time

import cv2
import numpy as np

from appliance.engine.cache import Cache, CacheLimits
from appliance.engine.framehash import frame_hash, hamming
from tests.conftest import REPO, fill_leaving, run_foley, small_disk


def scene(seed: int, size=(180, 320)) -> np.ndarray:
    """A textured synthetic scene: blobs and a gradient, different per seed."""
    rng = np.random.default_rng(seed)
    image = np.zeros((*size, 3), np.uint8)
    image[:] = np.linspace(20, 200, size[1], dtype=np.uint8)[None, :, None]
    for _ in range(12):
        center = (int(rng.integers(0, size[1])), int(rng.integers(0, size[0])))
        color = tuple(int(c) for c in rng.integers(0, 256, 3))
        cv2.circle(image, center, int(rng.integers(8, 50)), color, -1)
    return image


def test_hash_is_stable_under_noise_and_brightness_but_separates_scenes():
    base = scene(1)
    noisy = np.clip(base.astype(int) + np.random.default_rng(5).integers(-6, 7, base.shape), 0, 255).astype(np.uint8)
    brighter = cv2.convertScaleAbs(base, alpha=1.0, beta=12)
    jpeg = cv2.imdecode(cv2.imencode(".jpg", base, [cv2.IMWRITE_JPEG_QUALITY, 40])[1], cv2.IMREAD_COLOR)
    h = frame_hash(base)
    for variant in (noisy, brighter, jpeg):
        assert hamming(h, frame_hash(variant)) <= 4
    others = [hamming(h, frame_hash(scene(s))) for s in range(2, 12)]
    assert min(others) > 12


def test_frame_outputs_are_found_by_exact_pixels_and_model(tmp_path):
    cache = Cache(tmp_path)
    embedding, logits = np.random.default_rng(0).standard_normal((2, 1280)).astype(np.float16).astype(np.float32)
    cache.put_frame("model-a", "digest-of-frame-3", embedding, logits[:1000])
    hit = cache.find_frame("model-a", "digest-of-frame-3")
    assert hit is not None
    assert np.array_equal(hit["embedding"], embedding), "float16-exact outputs come back bit for bit"
    assert cache.find_frame("model-b", "digest-of-frame-3") is None, "model versions never mix"
    assert cache.find_frame("model-a", "digest-of-a-near-duplicate") is None, "only the same pixels"
    counters = cache.stats()["counters"]
    assert counters["frame_hit"] == 1 and counters["frame_miss"] == 2


def test_results(tmp_path):
    cache = Cache(tmp_path / "c")
    wav = tmp_path / "out.wav"
    wav.write_bytes(b"RIFF....")
    cache.put_result("key1", {"audio.wav": wav})
    found = cache.find_result("key1")
    assert (found / "audio.wav").read_bytes() == b"RIFF...."
    assert cache.find_result("key2") is None
    assert not list((tmp_path / "c" / "results").glob(".incoming-*"))


def test_lru_eviction_keeps_recently_used(tmp_path):
    cache = Cache(tmp_path, CacheLimits(max_frames=5))
    hashes = [f"frame-{s}" for s in range(20, 28)]
    one = np.ones(4, np.float32)
    for h in hashes[:5]:
        cache.put_frame("m", h, one, one)
    time.sleep(0.01)
    assert cache.find_frame("m", hashes[0]) is not None  # touch the oldest: it becomes recent
    for h in hashes[5:]:
        cache.put_frame("m", h, one, one)
    assert cache.stats()["frames"] == 5
    assert cache.find_frame("m", hashes[0]) is not None
    assert cache.find_frame("m", hashes[1]) is None


def test_result_eviction_by_count(tmp_path):
    cache = Cache(tmp_path, CacheLimits(max_results=2))
    f = tmp_path / "x"
    f.write_bytes(b"1234")
    for key in ("a", "b", "c"):
        cache.put_result(key, {"x": f})
        time.sleep(0.01)
    assert cache.find_result("a") is None and cache.find_result("c") is not None
    assert not (tmp_path / "results" / "a").exists()


def _writer(folder: str, offset: int, count: int) -> None:
    cache = Cache(folder)
    one = np.ones(8, np.float32)
    for i in range(count):
        cache.put_frame("m", f"frame-{offset + i}", one, one)
        cache.find_frame("m", f"frame-{offset + i}")
    cache.close()


def test_concurrent_processes(tmp_path):
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(str(tmp_path), k * 1000, 150)) for k in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    stats = Cache(tmp_path).stats()
    assert stats["frames"] == 450
    assert stats["counters"]["frame_hit"] == 450


def test_cache_cli_stats_and_clear(isolated_state):
    cache = Cache(isolated_state / "cache")
    cache.put_frame("m", "frame-1", np.ones(4, np.float32), np.ones(4, np.float32))
    cache.close()
    stats = run_foley("cache", "stats")
    assert stats.returncode == 0 and "frames cached:     1" in stats.stdout
    assert run_foley("cache", "clear").returncode == 0
    assert "frames cached:     0" in run_foley("cache", "stats").stdout


def test_file_digest_is_remembered_until_the_file_changes(tmp_path, monkeypatch):
    import hashlib
    import os

    import appliance.engine.cache as cache_module

    cache = Cache(tmp_path / "c")
    clip = tmp_path / "clip.bin"
    clip.write_bytes(b"a" * 100_000)
    reads = []
    real = cache_module.sha256_of
    monkeypatch.setattr(cache_module, "sha256_of", lambda p: reads.append(p) or real(p))

    expected = hashlib.sha256(b"a" * 100_000).hexdigest()
    assert cache.file_digest(clip) == expected
    assert Cache(tmp_path / "c").file_digest(clip) == expected  # remembered across processes' connections
    assert len(reads) == 1

    # Same size, new content and mtime: read again.
    clip.write_bytes(b"b" * 100_000)
    os.utime(clip, ns=(time.time_ns(), time.time_ns() + 10**9))
    assert cache.file_digest(clip) == hashlib.sha256(b"b" * 100_000).hexdigest()
    # Replaced by another file (new inode) with the old size and mtime: read again.
    stat = clip.stat()
    other = tmp_path / "other.bin"
    other.write_bytes(b"c" * 100_000)
    os.utime(other, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    other.replace(clip)
    assert cache.file_digest(clip) == hashlib.sha256(b"c" * 100_000).hexdigest()
    assert len(reads) == 3

    cache.clear()
    cache.file_digest(clip)
    assert len(reads) == 4


def test_a_stored_result_is_named_as_the_request_names_its_clip(tmp_path):
    """The same bytes scored under another name (a second upload, the service's stored `input`)
    are answered from the stored result, and its timeline and credits name this request's clip."""
    from appliance.engine.options import ScoreOptions
    from appliance.engine.pipeline import Engine
    from appliance.video.synthetic import render_scene

    clip = render_scene("stick", tmp_path / "rendered.mp4", width=160, height=120, fps=30, seconds=2, seed=1).path
    clip = clip.rename(tmp_path / "input")  # as the service stores an upload
    engine = Engine(Cache(tmp_path / "cache"))
    names = {}
    for name in ("first upload.mp4", "second upload.mov"):
        out = tmp_path / name
        out.mkdir()
        timeline = engine.score_to_files(clip, ScoreOptions(), wav=out / "a.wav", timeline=out / "t.json",
                                         credits=out / "credits.txt", clip_name=name)
        names[name] = (timeline.stats.result_cache, timeline.clip.file,
                       (out / "t.json").read_text(), (out / "credits.txt").read_text())
    assert [n[0] for n in names.values()] == ["miss", "hit"]
    for name, (cache_use, file, timeline_text, credits) in names.items():
        assert file == name and f'"file": "{name}"' in timeline_text
        assert f'"result_cache": "{cache_use}"' in timeline_text  # the file said the stored "miss"
        assert credits.startswith(f"Sound credits for the Foley track of {name}\n")


def test_a_cached_answer_that_fails_half_way_keeps_the_previous_outputs(tmp_path):
    """A result served from the cache is staged like a scored one. Here its MP4 (which the
    stored result lacks) runs out of disk after its WAV was staged, on a small disk filled so that
    the WAV just fits: the previous WAV and timeline stay as they were, and no half-written file is
    left. (The same staging serves a Ctrl-C there; a signal timed to land in that window missed it
    on a loaded machine, a full disk does not.)"""
    from appliance.video.synthetic import render_scene

    clip = render_scene("stick", tmp_path / "clip.mp4", width=160, height=120, fps=30, seconds=30, seed=4).path
    assert run_foley("score", str(clip), "--out", str(tmp_path / "first.wav")).returncode == 0  # fills the cache
    with small_disk(tmp_path / "out", "16m") as out:
        (out / "keep.wav").write_bytes(b"the previous WAV")
        (out / "keep.json").write_text("{}")
        fill_leaving(out, (tmp_path / "first.wav").stat().st_size + 64 * 1024)  # the WAV, not the MP4's ~0.8 MB
        result = run_foley("score", str(clip), "--out", str(out / "keep.wav"), "--timeline", str(out / "keep.json"),
                           "--mp4", str(out / "keep.mp4"))
        assert result.returncode != 0, result.stderr
        assert "Traceback" not in result.stderr, result.stderr
        assert (out / "keep.wav").read_bytes() == b"the previous WAV" and (out / "keep.json").read_text() == "{}"
        assert sorted(os.listdir(out)) == ["filler", "keep.json", "keep.wav"]


def test_a_result_that_cannot_be_stored_still_leaves_its_outputs(tmp_path):
    """Storing the result for next time fails (here its scratch folder's name is taken by a
    file): the outputs are written and kept, and the request succeeds."""
    from appliance.engine.options import ScoreOptions
    from appliance.engine.pipeline import Engine
    from appliance.video.synthetic import render_scene

    clip = render_scene("stick", tmp_path / "clip.mp4", width=160, height=120, fps=30, seconds=2, seed=1).path
    engine = Engine(Cache(tmp_path / "cache"))
    out = tmp_path / "out"
    out.mkdir()
    (out / f".store-{engine.request_key(clip, ScoreOptions())}").write_text("in the way")
    timeline = engine.score_to_files(clip, ScoreOptions(), wav=out / "a.wav", timeline=out / "t.json")
    assert timeline.stats.result_cache == "miss"
    assert (out / "a.wav").stat().st_size > 1000 and (out / "t.json").is_file()
    assert engine.cache.stats()["results"] == 0


def test_frame_cache_writes_are_skipped_on_a_full_disk(tmp_path, caplog):
    """A cache miss (a read) counted itself in the database: on a full disk that write failed
    and took the live session's choice of sounds down with it. Writes that only save work later
    are skipped on a full disk, said once; reads go on."""
    import numpy as np

    from appliance.engine.cache import Cache
    from tests.conftest import fill_leaving, small_disk

    with small_disk(tmp_path / "disk", "2m") as disk:
        cache = Cache(disk / "cache")
        cache.put_frame("vision", "a" * 64, np.ones(1280, np.float32), np.ones(1000, np.float32))
        fill_leaving(disk, 0)
        big = np.random.default_rng(0).standard_normal(200_000).astype(np.float32)
        for n in range(5):
            assert cache.find_frame("vision", f"{n}" * 64) is None
            cache.put_frame("vision", f"{n}" * 64, big, big)
        assert cache.find_frame("vision", "a" * 64) is not None
        cache.close()
    assert sum("the cache cannot be written" in r.message for r in caplog.records) == 1


def test_what_a_crash_in_storing_a_result_left_is_cleared(tmp_path):
    """A process killed after renaming a result's folder in but before its row committed left a
    folder that was never found (no row) nor stored again (the folder was there): a miss for
    good, its bytes outside the cache's bound. A copy killed half-way (`.incoming-*`) stayed too."""
    source = tmp_path / "a.wav"
    source.write_bytes(b"new result")
    cache = Cache(tmp_path / "cache")
    (cache.results_folder / "k1").mkdir()
    (cache.results_folder / "k1" / "a.wav").write_bytes(b"half")
    cache.put_result("k1", {"a.wav": source})
    assert (cache.find_result("k1") / "a.wav").read_bytes() == b"new result"
    cache.put_result("k1", {"a.wav": tmp_path / "a.wav"})  # stored already: kept as it is
    assert cache.find_result("k1") is not None
    cache.close()

    old, fresh = cache.results_folder / ".incoming-old", cache.results_folder / ".incoming-now"
    for leftover in (old, fresh):
        leftover.mkdir()
        (leftover / "a.wav").write_bytes(b"part")
    os.utime(old, (time.time() - 7200, time.time() - 7200))
    Cache(tmp_path / "cache").close()
    assert not old.exists() and fresh.exists(), "an hour-old copy is a crash's; a fresh one may be another process's"


def test_the_tables_of_shipped_files_are_kept_beside_the_engines_cache(tmp_path):
    """`foley bench` scores into a scratch cache; the zero-shot and material tables went to the
    state folder's cache all the same."""
    from appliance.engine.pipeline import Engine
    from appliance.paths import state_dir

    before = set((state_dir() / "cache").glob("*.npy")) if (state_dir() / "cache").is_dir() else set()
    Engine(Cache(tmp_path / "scratch")).prepare()
    assert list((tmp_path / "scratch").glob("imagenet-affinity-*.npy"))
    after = set((state_dir() / "cache").glob("*.npy")) if (state_dir() / "cache").is_dir() else set()
    assert after == before
