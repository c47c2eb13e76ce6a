"""hub_boto3_iotdata.py drives boto3's iot-data client against a thingcore
hub for the Go interop test TestHubBoto3IoTData (hub_iotdata_test.go).

Usage: /usr/bin/python3 hub_boto3_iotdata.py THING

Environment: THINGCORE_API_URL (https://localhost:PORT), THINGCORE_CA (the
hub's root CA, passed as verify=), AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
AWS_DEFAULT_REGION.

It updates, reads, lists and deletes shadows (classic and named), publishes a
retained message and reads it back, and provokes ResourceNotFoundException for
a missing shadow. It prints one JSON object: each call's decoded payload or
response (without ResponseMetadata; retained payloads decoded to text), and
for the expected error {"code", "status", "message", "operation"}. An
unexpected exception exits 1 with the traceback on stderr.
"""

import json
import os
import sys

import boto3
import botocore.config
from botocore.exceptions import ClientError


def client():
    return boto3.client(
        "iot-data",
        endpoint_url=os.environ["THINGCORE_API_URL"],
        verify=os.environ["THINGCORE_CA"],
        region_name=os.environ.get("AWS_DEFAULT_REGION", "us-east-1"),
        config=botocore.config.Config(retries={"max_attempts": 1}, connect_timeout=10, read_timeout=20),
    )


def response(r):
    r = dict(r)
    r.pop("ResponseMetadata", None)
    return r


def payload(r):
    return json.loads(r["payload"].read())


def main():
    thing = sys.argv[1]
    data = client()
    out = {}
    out["update_thing_shadow"] = payload(
        data.update_thing_shadow(thingName=thing, payload=json.dumps({"state": {"desired": {"temp": 20}}}).encode())
    )
    out["get_thing_shadow"] = payload(data.get_thing_shadow(thingName=thing))
    data.update_thing_shadow(thingName=thing, shadowName="config", payload=b'{"state":{"reported":{"a":1}}}')
    out["list_named_shadows_for_thing"] = response(data.list_named_shadows_for_thing(thingName=thing))
    out["delete_thing_shadow"] = payload(data.delete_thing_shadow(thingName=thing))
    data.publish(topic="boto3/status", qos=0, retain=True, payload=b"up")
    rm = response(data.get_retained_message(topic="boto3/status"))
    rm["payload"] = rm["payload"].decode()
    out["get_retained_message"] = rm
    out["list_retained_messages"] = response(data.list_retained_messages())
    try:
        data.get_thing_shadow(thingName=thing + "-missing")
        out["get_missing_shadow"] = {"unexpected_success": True}
    except ClientError as e:
        out["get_missing_shadow"] = {
            "code": e.response.get("Error", {}).get("Code"),
            "message": e.response.get("Error", {}).get("Message"),
            "status": e.response.get("ResponseMetadata", {}).get("HTTPStatusCode"),
            "operation": e.operation_name,
        }
    json.dump(out, sys.stdout, default=lambda v: v.isoformat() if hasattr(v, "isoformat") else str(v))
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
