"""The TF-free tfrecord reader on the real NAS-Bench-101 record and on corrupted copies of it."""

from __future__ import annotations

import base64
import json

import numpy as np
import pytest

from wsnas import space
from wsnas.datafiles import data_path
from wsnas.tfrecord import (
    ModelMetrics,
    TFRecordError,
    frame,
    masked_crc32c,
    read_records,
    record_metrics,
)

RECORD_FILE = "nasbench_full_one_record.tfrecord"


@pytest.fixture(scope="module")
def record_bytes() -> bytes:
    return data_path(RECORD_FILE).read_bytes()


@pytest.fixture(scope="module")
def payload(record_bytes) -> list:
    return json.loads(record_bytes[12:-4])


def write(tmp_path, content: bytes):
    path = tmp_path / "records.tfrecord"
    path.write_bytes(content)
    return path


def test_real_record_decodes():
    (record,) = list(read_records(data_path(RECORD_FILE)))
    assert record.offset == 0
    assert record.hash == "00005c142e6f48ac74fdcf73e3439874"
    assert record.epochs == 4
    assert record.ops == [
        "input", "conv3x3-bn-relu", "maxpool3x3", "conv3x3-bn-relu", "conv3x3-bn-relu", "conv1x1-bn-relu", "output"
    ]
    assert record.adjacency[0].tolist() == [0, 1, 0, 0, 1, 1, 0]
    assert record.metrics.trainable_parameters == 8555530
    assert [e.current_epoch for e in record.metrics.evaluation_data] == [0, 2, 4]
    metrics = record_metrics(record)
    assert metrics["final_validation_accuracy"] == pytest.approx(0.3489583432674408, abs=0)
    assert metrics["final_test_accuracy"] == pytest.approx(0.3504607379436493, abs=0)
    assert metrics["halfway_training_time"] == pytest.approx(45.152000427246094, abs=0)
    assert np.float32(metrics["final_train_accuracy"]) == metrics["final_train_accuracy"]  # NB-101 stores float32s


def test_real_record_hash_matches_our_hash():
    (record,) = list(read_records(data_path(RECORD_FILE)))
    assert space.Cell(record.adjacency, tuple(record.ops)).hash == record.hash


def test_frame_reproduces_the_real_bytes(record_bytes):
    assert frame(record_bytes[12:-4]) == record_bytes


def test_masked_crc32c_known_value():
    # The length field of the real record (401 = 0x191) and its stored masked CRC.
    assert masked_crc32c((401).to_bytes(8, "little")) == int.from_bytes(bytes.fromhex("9825ed9b"), "little")


def test_several_records_and_offsets(tmp_path, record_bytes):
    path = write(tmp_path, record_bytes * 3)
    assert [record.offset for record in read_records(path)] == [0, 417, 834]


def test_empty_file_has_no_records(tmp_path):
    assert list(read_records(write(tmp_path, b""))) == []


@pytest.mark.parametrize("cut", range(1, 417))
def test_every_truncation_is_an_error(tmp_path, record_bytes, cut):
    path = write(tmp_path, record_bytes + record_bytes[:cut])
    with pytest.raises(TFRecordError, match="record at byte 417: truncated"):
        list(read_records(path))


def test_every_single_byte_corruption_is_detected(tmp_path, record_bytes):
    for position in range(len(record_bytes)):
        corrupted = bytearray(record_bytes)
        corrupted[position] ^= 0x5A
        expected = "length CRC mismatch" if position < 12 else "data CRC mismatch"
        with pytest.raises(TFRecordError, match=f"record at byte 0: {expected}"):
            list(read_records(write(tmp_path, bytes(corrupted))))


def test_corrupt_data_crc_names_offset(tmp_path, record_bytes):
    corrupted = bytearray(record_bytes)
    corrupted[200] ^= 1
    with pytest.raises(TFRecordError, match="record at byte 417: data CRC mismatch"):
        list(read_records(write(tmp_path, record_bytes + bytes(corrupted))))


def test_corrupt_length_crc_names_offset(tmp_path, record_bytes):
    corrupted = bytearray(record_bytes)
    corrupted[9] ^= 1
    with pytest.raises(TFRecordError, match="record at byte 834: length CRC mismatch"):
        list(read_records(write(tmp_path, record_bytes * 2 + bytes(corrupted))))


def reframed(payload: list, **changes) -> bytes:
    fields = dict(zip(["hash", "epochs", "adjacency", "ops", "metrics"], payload)) | changes
    return frame(json.dumps(list(fields.values())).encode())


@pytest.mark.parametrize(
    "data, problem",
    [
        (b"not json", "not valid JSON"),
        (b"\xff\xfe", "not valid JSON"),
        (b'{"hash": 1}', "expected a JSON list of 5 items"),
        (b"[1, 2, 3]", "expected a JSON list of 5 items"),
    ],
)
def test_bad_json(tmp_path, record_bytes, data, problem):
    with pytest.raises(TFRecordError, match=f"record at byte 417: .*{problem}"):
        list(read_records(write(tmp_path, record_bytes + frame(data))))


def test_bad_fields(tmp_path, record_bytes, payload):
    cases = {
        "bad hash": reframed(payload, hash="xyz"),
        "is not a 0/1 string": reframed(payload, adjacency="0120"),
        "not valid base64": reframed(payload, metrics="@@@@"),
        "not a valid ModelMetrics protobuf": reframed(payload, metrics=base64.b64encode(b"\x0a\xff\xff\xff").decode()),
        "expected 3 evaluation points": reframed(payload, metrics=base64.b64encode(ModelMetrics().SerializeToString()).decode()),
    }
    for problem, bad_frame in cases.items():
        with pytest.raises(TFRecordError, match=f"record at byte 417: .*{problem}"):
            list(read_records(write(tmp_path, record_bytes + bad_frame)))


def test_reframed_payload_still_decodes(tmp_path, payload):
    (record,) = list(read_records(write(tmp_path, reframed(payload))))
    assert record.hash == payload[0]
