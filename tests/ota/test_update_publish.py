"""``edgecl-rt update --out NEW`` publishes without replacing anything, turns every file system error
into one line, parses update.json strictly, removes what a killed run left, and writes the update's
files with the umask's mode."""
import errno
import json
import os
import stat

from edgecl_runtime.update import apply as apply_mod

from tests.ota.test_update_apply import refused, rt_update


def test_a_new_that_appears_while_update_runs_is_kept_and_refused(update_copy, tmp_path, monkeypatch):
    base, update = update_copy
    out = tmp_path / "NEW"
    real_prove = apply_mod.prove
    calls = []

    def prove_then_race(*args, **kwargs):  # between the existence check and the publish
        gates = real_prove(*args, **kwargs)
        out.mkdir()
        (out / "theirs.txt").write_text("written by someone else")
        calls.append(1)
        return gates

    monkeypatch.setattr(apply_mod, "prove", prove_then_race)
    result = rt_update(base, update, out)
    assert calls == [1]
    lines = [ln for ln in result.output.strip().splitlines() if "warning" not in ln]
    assert result.exit_code == 1 and len(lines) == 1 and "appeared" in lines[0], result.output
    assert sorted(p.name for p in out.iterdir()) == ["theirs.txt"]
    assert (out / "theirs.txt").read_text() == "written by someone else"
    assert not list(tmp_path.glob(".NEW.*"))


def test_a_dangling_out_link_is_refused_and_kept(update_copy, tmp_path):
    base, update = update_copy
    out = tmp_path / "NEW"
    out.symlink_to(tmp_path / "nowhere")
    result = rt_update(base, update, out)
    lines = [ln for ln in result.output.strip().splitlines() if "warning" not in ln]
    assert result.exit_code == 1 and len(lines) == 1 and "already exists" in lines[0], result.output
    assert out.is_symlink() and not (tmp_path / "nowhere").exists()


def test_a_read_only_out_folder_is_one_line(update_copy, tmp_path, monkeypatch):
    base, update = update_copy
    import edgecl_runtime.atomic_io as aio

    def denied(prefix="", dir=None, **_):
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), os.path.join(dir, prefix + "x"))

    monkeypatch.setattr(aio.tempfile, "mkdtemp", denied)  # what a read-only folder does (tests run as root)
    refused(rt_update(base, update, tmp_path / "NEW"), "cannot write", tmp_path / "NEW")


def test_a_full_disk_is_one_line_and_leaves_nothing(update_copy, tmp_path, monkeypatch):
    base, update = update_copy

    def full(path, data, mode=None):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))

    monkeypatch.setattr(apply_mod, "write_bytes_atomic", full)
    result = rt_update(base, update, tmp_path / "NEW")
    refused(result, "No space left on device", tmp_path / "NEW")
    assert "cannot write" in result.output


def _set(update, text_change):
    path = update / "update.json"
    path.write_text(text_change(path.read_text()))


def test_nan_task_in_update_json_is_refused(update_copy, tmp_path):
    base, update = update_copy
    data = json.loads((update / "update.json").read_text())
    data["task"] = float("nan")
    (update / "update.json").write_text(json.dumps(data))  # json writes NaN
    refused(rt_update(base, update, tmp_path / "NEW"), "not a finite number", tmp_path / "NEW")


def test_a_repeated_key_in_update_json_is_refused(update_copy, tmp_path):
    base, update = update_copy
    _set(update, lambda text: text.replace('{', '{"golden": "golden.safetensors", ', 1))
    refused(rt_update(base, update, tmp_path / "NEW"), "appears twice", tmp_path / "NEW")


def test_a_killed_runs_staging_folder_is_removed_a_live_ones_kept(update_copy, tmp_path):
    base, update = update_copy
    dead = tmp_path / ".NEW.partial-999999999-abcd"
    old_style = tmp_path / ".NEW.partial-k2j4h1"
    live = tmp_path / f".NEW.partial-{os.getpid()}-live"
    for folder in (dead, old_style, live):
        folder.mkdir()
        (folder / "model.onnx").write_bytes(b"x" * 1000)
    result = rt_update(base, update, tmp_path / "NEW")
    assert result.exit_code == 0, result.output
    assert not dead.exists() and not old_style.exists() and live.exists()


def test_update_files_follow_the_umask(made_update):
    run = made_update[0]
    folder = run / "task-02" / "update-from-01"
    umask = os.umask(0)
    os.umask(umask)
    wrong = {p.name: oct(stat.S_IMODE(p.stat().st_mode)) for p in folder.rglob("*")
             if p.is_file() and stat.S_IMODE(p.stat().st_mode) != 0o666 & ~umask}
    assert not wrong, wrong
