"""A TensorFlow-free reader for the official NAS-Bench-101 files (`nasbench_only108.tfrecord`,
`nasbench_full.tfrecord`).

A TFRecord file is a sequence of frames: uint64 little-endian length, masked crc32c of those 8
bytes, the data, masked crc32c of the data. In NAS-Bench-101 each data block is a JSON list
`[hash, epochs, adjacency as a row-major 0/1 string, comma-separated ops, base64 ModelMetrics]`,
one record per (cell, epoch budget, repeat).
"""

from __future__ import annotations

import base64
import binascii
import json
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import crc32c
import numpy as np
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.message import DecodeError

_LENGTH = struct.Struct("<Q")
_CRC = struct.Struct("<I")
_HEADER_BYTES = _LENGTH.size + _CRC.size
_MASK_DELTA = 0xA282EAD8


class TFRecordError(ValueError):
    """The file is truncated or corrupt; the message names the byte offset of the bad record."""


def masked_crc32c(data: bytes) -> int:
    """TFRecord's masked CRC32C: rotate right by 15 bits and add a constant."""
    crc = crc32c.crc32c(data)
    return (((crc >> 15) | (crc << 17)) + _MASK_DELTA) & 0xFFFFFFFF


def frame(data: bytes) -> bytes:
    """One TFRecord frame around `data` (for writing test fixtures and synthetic files)."""
    length = _LENGTH.pack(len(data))
    return length + _CRC.pack(masked_crc32c(length)) + data + _CRC.pack(masked_crc32c(data))


def iter_frames(handle: BinaryIO) -> Iterator[tuple[int, bytes]]:
    """Yield (byte offset of the frame, its data) for every frame, checking both CRCs."""
    offset = 0
    while header := handle.read(_HEADER_BYTES):
        if len(header) < _HEADER_BYTES:
            raise TFRecordError(f"record at byte {offset}: truncated header ({len(header)} of {_HEADER_BYTES} bytes)")
        length_bytes, (length_crc,) = header[: _LENGTH.size], _CRC.unpack(header[_LENGTH.size :])
        if masked_crc32c(length_bytes) != length_crc:
            raise TFRecordError(f"record at byte {offset}: length CRC mismatch (corrupt length field)")
        (length,) = _LENGTH.unpack(length_bytes)
        body = handle.read(length + _CRC.size)
        if len(body) < length + _CRC.size:
            raise TFRecordError(
                f"record at byte {offset}: truncated data ({len(body)} of {length + _CRC.size} bytes after the header)"
            )
        data, (data_crc,) = body[:length], _CRC.unpack(body[length:])
        if masked_crc32c(data) != data_crc:
            raise TFRecordError(f"record at byte {offset}: data CRC mismatch (corrupt record of {length} bytes)")
        yield offset, data
        offset += _HEADER_BYTES + length + _CRC.size


def _message_classes():
    """NAS-Bench-101's `model_metrics.proto`, built at runtime (no protoc step)."""
    proto = descriptor_pb2.FileDescriptorProto(name="wsnas_nasbench_model_metrics.proto", package="nasbench", syntax="proto2")
    field = descriptor_pb2.FieldDescriptorProto
    evaluation = proto.message_type.add(name="EvaluationData")
    for number, name in enumerate(("current_epoch", "training_time", "train_accuracy", "validation_accuracy", "test_accuracy"), 1):
        evaluation.field.add(name=name, number=number, type=field.TYPE_DOUBLE, label=field.LABEL_OPTIONAL)
    evaluation.field.add(name="checkpoint_path", number=6, type=field.TYPE_STRING, label=field.LABEL_OPTIONAL)
    metrics = proto.message_type.add(name="ModelMetrics")
    metrics.field.add(
        name="evaluation_data", number=1, type=field.TYPE_MESSAGE, label=field.LABEL_REPEATED, type_name=".nasbench.EvaluationData"
    )
    metrics.field.add(name="trainable_parameters", number=2, type=field.TYPE_INT32, label=field.LABEL_OPTIONAL)
    metrics.field.add(name="total_time", number=3, type=field.TYPE_DOUBLE, label=field.LABEL_OPTIONAL)
    pool = descriptor_pool.DescriptorPool()
    pool.Add(proto)
    return (
        message_factory.GetMessageClass(pool.FindMessageTypeByName("nasbench.ModelMetrics")),
        message_factory.GetMessageClass(pool.FindMessageTypeByName("nasbench.EvaluationData")),
    )


ModelMetrics, EvaluationData = _message_classes()


@dataclass(frozen=True)
class Record:
    """One NAS-Bench-101 record: a cell trained once for `epochs` epochs."""

    offset: int
    hash: str
    epochs: int
    adjacency: np.ndarray  # V×V int8, the pruned module matrix
    ops: list[str]
    metrics: ModelMetrics  # evaluation_data[1] is the halfway point, [2] the end of training


def parse_record(data: bytes, offset: int = 0) -> Record:
    """Decode the JSON + base64 protobuf payload of one frame."""

    def bad(problem: str) -> TFRecordError:
        return TFRecordError(f"record at byte {offset}: {problem}")

    try:
        fields = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise bad(f"payload is not valid JSON ({error})") from None
    if not (isinstance(fields, list) and len(fields) == 5):
        raise bad(f"expected a JSON list of 5 items [hash, epochs, adjacency, ops, metrics], got {str(fields)[:80]!r}")
    module_hash, epochs, adjacency_bits, ops_text, metrics_base64 = fields
    if not (isinstance(module_hash, str) and len(module_hash) == 32 and isinstance(epochs, int)):
        raise bad(f"bad hash {module_hash!r} or epochs {epochs!r}")
    ops = ops_text.split(",") if isinstance(ops_text, str) else []
    vertices = len(ops)
    if not (isinstance(adjacency_bits, str) and len(adjacency_bits) == vertices * vertices and set(adjacency_bits) <= {"0", "1"}):
        raise bad(f"adjacency {adjacency_bits!r} is not a 0/1 string of {vertices}×{vertices} for ops {ops_text!r}")
    adjacency = (np.frombuffer(adjacency_bits.encode(), dtype=np.uint8) - ord("0")).astype(np.int8).reshape(vertices, vertices)
    try:
        serialized = base64.b64decode("".join(str(metrics_base64).split()), validate=True)
    except (binascii.Error, ValueError) as error:
        raise bad(f"metrics are not valid base64 ({error})") from None
    metrics = ModelMetrics()
    try:
        metrics.ParseFromString(serialized)
    except DecodeError as error:
        raise bad(f"metrics are not a valid ModelMetrics protobuf ({error})") from None
    if len(metrics.evaluation_data) != 3:
        raise bad(f"expected 3 evaluation points (start, halfway, final), got {len(metrics.evaluation_data)}")
    return Record(offset, module_hash, epochs, adjacency, ops, metrics)


def read_records(path: Path | str) -> Iterator[Record]:
    """Yield every record of an official NAS-Bench-101 tfrecord file, in file order."""
    with open(path, "rb", buffering=1 << 20) as handle:
        for offset, data in iter_frames(handle):
            yield parse_record(data, offset)


# Metric names as in NAS-Bench-101's `api.py` (`computed_stats`).
METRICS = tuple(
    f"{point}_{name}"
    for point in ("halfway", "final")
    for name in ("train_accuracy", "validation_accuracy", "test_accuracy", "training_time")
)


def record_metrics(record: Record) -> dict[str, float]:
    """The 8 per-repeat metrics of NAS-Bench-101's `computed_stats`, from one record."""
    values = {}
    for point, evaluation in (("halfway", record.metrics.evaluation_data[1]), ("final", record.metrics.evaluation_data[2])):
        values[f"{point}_train_accuracy"] = evaluation.train_accuracy
        values[f"{point}_validation_accuracy"] = evaluation.validation_accuracy
        values[f"{point}_test_accuracy"] = evaluation.test_accuracy
        values[f"{point}_training_time"] = evaluation.training_time
    return values


def encode_record(
    module_hash: str,
    epochs: int,
    adjacency: np.ndarray,
    ops: list[str],
    repeat_metrics: dict[str, float],
    trainable_parameters: int,
) -> bytes:
    """One framed record in the official layout (the inverse of `parse_record` + `record_metrics`).

    The official files also carry the epoch-0 evaluation, the total time and checkpoint paths;
    those are not part of NB-101's `computed_stats` and are left at zero here.
    """
    metrics = ModelMetrics(trainable_parameters=trainable_parameters)
    metrics.evaluation_data.add(current_epoch=0)
    for point, epoch in (("halfway", epochs // 2), ("final", epochs)):
        metrics.evaluation_data.add(
            current_epoch=epoch,
            training_time=repeat_metrics[f"{point}_training_time"],
            train_accuracy=repeat_metrics[f"{point}_train_accuracy"],
            validation_accuracy=repeat_metrics[f"{point}_validation_accuracy"],
            test_accuracy=repeat_metrics[f"{point}_test_accuracy"],
        )
    adjacency_bits = "".join(str(int(bit)) for bit in np.asarray(adjacency).ravel())
    payload = [module_hash, epochs, adjacency_bits, ",".join(ops), base64.b64encode(metrics.SerializeToString()).decode()]
    return frame(json.dumps(payload).encode())
