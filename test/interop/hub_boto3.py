"""hub_boto3.py drives boto3's iot client against a thingcore hub for the Go
interop test TestHubBoto3 (hub_boto3_test.go).

Usage: /usr/bin/python3 hub_boto3.py THING OUTDIR

Environment: THINGCORE_API_URL (https://localhost:PORT), THINGCORE_CA (the
hub's root CA, passed as verify=), AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
AWS_DEFAULT_REGION.

It provisions THING the way AWS's docs do (create_thing,
create_keys_and_certificate(setAsActive=True), attach_thing_principal), writes
OUTDIR/certificate.pem.crt and OUTDIR/private.pem.key, reads back
(list_things, describe_endpoint), provokes errors (describe_thing of a missing
thing, delete_certificate of an ACTIVE certificate, a wrong secret), then
deactivates the certificate (update_certificate, describe_certificate). It
prints one JSON object: each call's response without ResponseMetadata, and for
each expected error {"code", "status", "message", "operation"}. An unexpected
exception exits 1 with the traceback on stderr.
"""

import json
import os
import sys

import boto3
import botocore.config
from botocore.exceptions import ClientError


def client(secret=None):
    return boto3.client(
        "iot",
        endpoint_url=os.environ["THINGCORE_API_URL"],
        verify=os.environ["THINGCORE_CA"],
        region_name=os.environ.get("AWS_DEFAULT_REGION", "us-east-1"),
        aws_access_key_id=os.environ["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=secret or os.environ["AWS_SECRET_ACCESS_KEY"],
        config=botocore.config.Config(retries={"max_attempts": 1}, connect_timeout=10, read_timeout=20),
    )


def response(r):
    r = dict(r)
    r.pop("ResponseMetadata", None)
    return r


def expect_error(fn, **kwargs):
    """Calls fn, which must raise ClientError, and returns the error's parts."""
    try:
        r = fn(**kwargs)
    except ClientError as e:
        return {
            "code": e.response.get("Error", {}).get("Code"),
            "message": e.response.get("Error", {}).get("Message"),
            "status": e.response.get("ResponseMetadata", {}).get("HTTPStatusCode"),
            "operation": e.operation_name,
        }
    return {"unexpected_success": response(r)}


def main():
    thing, outdir = sys.argv[1], sys.argv[2]
    iot = client()
    out = {}
    out["create_thing"] = response(iot.create_thing(thingName=thing))
    kc = response(iot.create_keys_and_certificate(setAsActive=True))
    out["create_keys_and_certificate"] = kc
    with open(os.path.join(outdir, "certificate.pem.crt"), "w") as f:
        f.write(kc["certificatePem"])
    fd = os.open(os.path.join(outdir, "private.pem.key"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(kc["keyPair"]["PrivateKey"])
    out["attach_thing_principal"] = response(
        iot.attach_thing_principal(thingName=thing, principal=kc["certificateArn"])
    )
    # Policies: as on AWS, a certificate may do nothing until one is attached.
    doc = os.environ["THINGCORE_POLICY_DOCUMENT"]
    out["create_policy"] = response(iot.create_policy(policyName="boto3-policy", policyDocument=doc))
    out["attach_policy"] = response(iot.attach_policy(policyName="boto3-policy", target=kc["certificateArn"]))
    out["list_attached_policies"] = response(iot.list_attached_policies(target=kc["certificateArn"]))
    out["list_policies"] = response(iot.list_policies())
    out["delete_attached_policy"] = expect_error(iot.delete_policy, policyName="boto3-policy")
    out["malformed_policy"] = expect_error(iot.create_policy, policyName="bad", policyDocument='{"Statement":[{"Effect":"Maybe"}]}')
    response(iot.create_policy(policyName="boto3-spare", policyDocument=doc))
    out["delete_policy"] = response(iot.delete_policy(policyName="boto3-spare"))
    out["list_things"] = response(iot.list_things())
    out["describe_endpoint"] = response(iot.describe_endpoint(endpointType="iot:Data-ATS"))

    out["describe_missing_thing"] = expect_error(iot.describe_thing, thingName=thing + "-missing")
    out["delete_active_certificate"] = expect_error(iot.delete_certificate, certificateId=kc["certificateId"])
    out["wrong_secret"] = expect_error(client(secret="not-the-secret").list_things)

    out["update_certificate"] = response(
        iot.update_certificate(certificateId=kc["certificateId"], newStatus="INACTIVE")
    )
    out["describe_certificate"] = response(iot.describe_certificate(certificateId=kc["certificateId"]))
    # datetimes (creationDate, validity) print as ISO 8601 strings.
    json.dump(out, sys.stdout, default=lambda v: v.isoformat())
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
