package policy

import "strings"

// thingPolicyTemplate is the policy thingcore attaches to a new thing's
// certificate. REGION and ACCOUNT are replaced by ThingPolicy.
//
// It lets the device connect only with its own thing name as client ID, and
// only while its certificate is attached to that thing; publish, receive and
// subscribe only under its own reserved topics
// `$aws/things/<thing>/shadow/...` (classic and named shadows) and
// `$aws/things/<thing>/jobs/...`, and under its own application namespace
// `things/<thing>/...`. Nothing else: no `#`, no `+` across things, no other
// thing's topics, no retained publishes. The topic filters are the compliant
// forms from AWS's Device Defender audit (reference §1.7 b).
const thingPolicyTemplate = `{
  "Version": "2012-10-17",
  "Statement": [
    {
      "Sid": "ConnectAsOwnThing",
      "Effect": "Allow",
      "Action": "iot:Connect",
      "Resource": "arn:aws:iot:REGION:ACCOUNT:client/${iot:Connection.Thing.ThingName}",
      "Condition": {
        "Bool": {
          "iot:Connection.Thing.IsAttached": "true"
        }
      }
    },
    {
      "Sid": "PublishReceiveOwnTopics",
      "Effect": "Allow",
      "Action": [
        "iot:Publish",
        "iot:Receive"
      ],
      "Resource": [
        "arn:aws:iot:REGION:ACCOUNT:topic/$aws/things/${iot:Connection.Thing.ThingName}/shadow/*",
        "arn:aws:iot:REGION:ACCOUNT:topic/$aws/things/${iot:Connection.Thing.ThingName}/jobs/*",
        "arn:aws:iot:REGION:ACCOUNT:topic/things/${iot:Connection.Thing.ThingName}/*"
      ]
    },
    {
      "Sid": "SubscribeOwnTopics",
      "Effect": "Allow",
      "Action": "iot:Subscribe",
      "Resource": [
        "arn:aws:iot:REGION:ACCOUNT:topicfilter/$aws/things/${iot:Connection.Thing.ThingName}/shadow/*",
        "arn:aws:iot:REGION:ACCOUNT:topicfilter/$aws/things/${iot:Connection.Thing.ThingName}/jobs/*",
        "arn:aws:iot:REGION:ACCOUNT:topicfilter/things/${iot:Connection.Thing.ThingName}/*"
      ]
    }
  ]
}
`

// ThingPolicy returns the default policy document for a new thing in the
// given region and account (see thingPolicyTemplate for what it allows).
// region and account must not contain wildcards or `${`.
func ThingPolicy(region, account string) []byte {
	r := strings.NewReplacer(":REGION:ACCOUNT:", ":"+region+":"+account+":")
	return []byte(r.Replace(thingPolicyTemplate))
}

// DefaultThingPolicy returns the default policy document for a new thing,
// valid in any region and account (both are `*` in its ARNs). Prefer
// ThingPolicy when they are known: a `*` also matches `:`, so `*:*` is
// slightly looser than a concrete region and account (it still only
// matches resources ending in the thing's own topics).
func DefaultThingPolicy() []byte { return ThingPolicy("*", "*") }
