"""Decodes Sparkplug B messages the historian encoded, with pysparkplug (PyPI), and prints
what it read as JSON on stdout.

Usage: sparkplug_decode.py DIR
DIR holds messages.json, a list of {"topic", "file", "qos", "retain"} in publishing order,
and each message's payload in its file. Data messages are decoded against the latest birth
of the same node or device, as a host application would, so their metric names and data
types come from the aliases announced there. Properties are read from the payload through
pysparkplug's own compiled copy of the Eclipse Tahu schema, as pysparkplug's metric class
does not carry them.
"""

import json
import math
import pathlib
import sys

import pysparkplug as psp
from pysparkplug import _protobuf as pb


def plain(value):
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value)
    if isinstance(value, bytes):
        return value.hex()
    return value


def properties(raw_metric):
    out = {}
    props = raw_metric.properties
    for key, value in zip(props.keys, props.values):
        field = value.WhichOneof("value")
        out[key] = {
            "type": psp.DataType(value.type).name,
            "value": plain(getattr(value, field)) if field else None,
        }
    return out


def main():
    folder = pathlib.Path(sys.argv[1])
    listing = json.loads((folder / "messages.json").read_text())
    births = {}
    decoded = []
    for entry in listing:
        raw = (folder / entry["file"]).read_bytes()
        topic = psp.Topic.from_str(entry["topic"])
        kind = topic.message_type
        key = (topic.edge_node_id, topic.device_id)
        payload = kind.payload.decode(raw, birth=births.get(key))
        if kind in (psp.MessageType.NBIRTH, psp.MessageType.DBIRTH):
            births[key] = payload
        raw_payload = pb.Payload.FromString(raw)
        item = {
            "topic": entry["topic"],
            "verb": str(kind),
            "group": topic.group_id,
            "edge": topic.edge_node_id,
            "device": topic.device_id,
            "qos": entry["qos"],
            "retain": entry["retain"],
            "seq": getattr(payload, "seq", None),
            "has_seq": raw_payload.HasField("seq"),
            "timestamp": raw_payload.timestamp if raw_payload.HasField("timestamp") else None,
            "metrics": [],
        }
        if kind == psp.MessageType.NDEATH:
            metrics = [payload.bd_seq_metric]
        else:
            metrics = list(getattr(payload, "metrics", ()))
        for metric, raw_metric in zip(metrics, raw_payload.metrics):
            item["metrics"].append(
                {
                    "name": metric.name,
                    "alias": metric.alias,
                    "datatype": metric.datatype.name,
                    "value": plain(metric.value),
                    "is_null": metric.is_null,
                    "timestamp": metric.timestamp,
                    "sent_name": raw_metric.HasField("name"),
                    "sent_datatype": raw_metric.HasField("datatype"),
                    "properties": properties(raw_metric),
                }
            )
        decoded.append(item)
    json.dump(decoded, sys.stdout)


if __name__ == "__main__":
    main()
