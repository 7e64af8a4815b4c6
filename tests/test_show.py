"""`elasticc-stream show`: tree, JSON, light curve, and one error line per bad file."""

from __future__ import annotations

import base64
import json

import alert_factory as af
import pytest
from elasticc_stream.engine import decoder
from show_runner import run_show


def test_show_real_elasticc_file(capsys):
    code, out, err = run_show(capsys, af.REAL_ALERT, "--width", "100", "--height", "16")
    assert code == 0 and err == ""
    assert "\x1b" not in out  # captured stdout is not a terminal: plain text
    assert "ELAsTiCC alert: diaSourceId 1494043, diaObjectId 747, midPointTai 60674.0512, filter Y" in out
    assert "schema elasticc.v0_9.alert (embedded in the file; fingerprint " in out
    assert "psFlux: 464.9520263671875" in out  # exact value, as decoded
    assert "prvDiaSources (18)" in out
    assert "• u  • g  • r  • i  • z  • Y  ◆ current detection (Y at 60674.0512)" in out
    plot_lines = [line for line in out.splitlines() if "┤" in line]
    assert plot_lines and max(len(line) for line in plot_lines) <= 100


def test_show_schemaless_file_with_and_without_schema(tmp_path, capsys):
    record = af.elasticc_record("elasticc.v0_9_1", source_id=4242, n_forced=2)
    path = af.write(tmp_path / "alert_4242.avro", af.schemaless(record, "elasticc.v0_9_1"))
    avsc = decoder.SCHEMA_DIR / "v0_9_1" / "elasticc.v0_9_1.alert.avsc"
    code, out, err = run_show(capsys, path, "--schema", avsc, "--width", "80")
    assert code == 0, err
    assert "diaSourceId 4242" in out and "given with --schema" in out and "○ forced" in out
    code, out, err = run_show(capsys, path, "--no-plot")
    assert code == 0, err
    assert "shipped schema elasticc.v0_9_1, the first that decodes every byte" in out
    assert "current detection" not in out
    # A schema that does not fit is an error line, not a guess.
    wrong = decoder.SCHEMA_DIR / "stream2022" / "elasticc.v0_9.alert.stream2022.avsc"
    code, out, err = run_show(capsys, path, "--schema", wrong)
    assert code == 1 and out == ""
    assert err.startswith(f"elasticc-stream show: error: {path}: schema does not decode it exactly")


def test_show_ztf_like_container(tmp_path, capsys):
    path = af.write(tmp_path / "ztf.avro.gz", af.gz(af.container([af.ztf_record()], af.ZTF_SCHEMA)))
    code, out, err = run_show(capsys, path, "--width", "90")
    assert code == 0, err
    assert "ZTF alert: objectId ZTF21abcdefg, candid 1500, jd 2459000.75, fid r, magpsf 18.25" in out
    assert "cutoutScience: <16 bytes> 1f8b2066616b65207374616d702000ff" in out
    assert "▽ upper limit" in out and "◆ current detection (r at 2459000.75)" in out


def test_show_json_is_exact_one_object_per_alert(tmp_path, capsys):
    records = [af.ztf_record(candid=1500 + i) for i in range(3)]
    path = af.write(tmp_path / "three.avro", af.container(records, af.ZTF_SCHEMA, one_block_per_record=True))
    code, out, err = run_show(capsys, path, af.REAL_ALERT, "--json")
    assert code == 0 and err == ""
    lines = out.splitlines()
    assert len(lines) == 4
    got = [json.loads(line) for line in lines]
    for g, r in zip(got, records, strict=False):
        assert base64.b64decode(g.pop("cutoutScience")) == r["cutoutScience"]
        assert g == {k: v for k, v in r.items() if k != "cutoutScience"}
    assert got[3] == decoder.read_alert_file(af.REAL_ALERT)[0].record


def test_show_reports_each_bad_file_on_one_line_and_goes_on(tmp_path, capsys):
    garbage = af.write(tmp_path / "garbage.avro", b"\x13\x37" * 50)
    cut = af.write(tmp_path / "cut.avro.gz", af.REAL_ALERT.read_bytes()[:700])
    missing = tmp_path / "missing.avro"
    code, out, err = run_show(capsys, garbage, af.REAL_ALERT, cut, missing, "--no-plot")
    assert code == 1
    assert "diaSourceId 1494043" in out  # the good file is still shown
    errors = err.splitlines()
    assert errors[0].startswith(f"elasticc-stream show: error: {garbage}: not an Avro container")
    assert errors[1] == f"elasticc-stream show: error: {cut}: truncated gzip data (700 compressed bytes end early)"
    assert errors[2] == f"elasticc-stream show: error: {missing}: cannot read: No such file or directory"
    assert errors[3] == "elasticc-stream show: 3 of 4 file(s) could not be decoded"


def test_show_rejects_an_unusable_schema_file(tmp_path, capsys):
    from elasticc_stream.engine.errors import UserError

    bad = af.write(tmp_path / "bad.avsc", b"{not json")
    with pytest.raises(UserError, match="bad.avsc"):
        run_show(capsys, af.REAL_ALERT, "--schema", bad)


def test_show_through_the_entry_point():
    from conftest import run_cli

    result = run_cli("show", str(af.REAL_ALERT), "--width", "80")
    assert result.returncode == 0, result.stderr
    assert "diaSourceId: 1494043" in result.stdout and "current detection" in result.stdout
