package policy

import "strings"

// Resource types of AWS IoT resource ARNs
// (`arn:aws:iot:<region>:<account>:<type>/<name>`).
const (
	ResourceClient      = "client"      // iot:Connect; name: the MQTT client ID
	ResourceTopic       = "topic"       // iot:Publish, iot:RetainPublish, iot:Receive, iot:GetRetainedMessage; name: the topic
	ResourceTopicFilter = "topicfilter" // iot:Subscribe; name: the literal topic filter, `+` and `#` included
	ResourceThing       = "thing"       // shadow and HTTP jobs actions; name: the thing (`thing/shadow` for a named shadow)
	ResourceRoleAlias   = "rolealias"   // iot:AssumeRoleWithCertificate; name: the role alias
)

// AnyResource is the request resource of actions whose policy resource must
// be `*` (iot:ListRetainedMessages, iot:ListNamedShadowsForThing). Only a
// policy resource of `*` (or another pattern matching the text "*") allows
// them.
const AnyResource = "*"

// ARN returns the ARN of an AWS IoT resource, for example
// ARN("us-east-1", "123456789012", ResourceTopic, "foo/bar") is
// "arn:aws:iot:us-east-1:123456789012:topic/foo/bar". For a named shadow
// pass name "thingOne/shadowOne" with ResourceThing.
func ARN(region, account, resourceType, name string) string {
	return "arn:aws:iot:" + region + ":" + account + ":" + resourceType + "/" + name
}

// Actions that AWS IoT checks, in canonical spelling. Their position is
// their bit in a statement's action mask.
var knownActions = [...]string{
	"iot:Connect",
	"iot:Publish",
	"iot:RetainPublish",
	"iot:Subscribe",
	"iot:Receive",
	"iot:GetRetainedMessage",
	"iot:ListRetainedMessages",
	"iot:GetThingShadow",
	"iot:UpdateThingShadow",
	"iot:DeleteThingShadow",
	"iot:ListNamedShadowsForThing",
	"iot:DescribeJobExecution",
	"iot:GetPendingJobExecutions",
	"iot:UpdateJobExecution",
	"iot:StartNextPendingJobExecution",
	"iot:AssumeRoleWithCertificate",
}

// actionIndex returns the position of action in knownActions, ignoring
// case, or -1. It does not allocate.
func actionIndex(action string) int {
	for i, a := range knownActions {
		if len(a) == len(action) && strings.EqualFold(a, action) {
			return i
		}
	}
	return -1
}

// ResourceType returns the resource type whose ARN action is checked
// against, per the AWS IoT developer guide, or "" for actions checked
// against AnyResource or not known.
func ResourceType(action string) string {
	i := actionIndex(action)
	if i < 0 {
		return ""
	}
	switch knownActions[i] {
	case "iot:Connect":
		return ResourceClient
	case "iot:Subscribe":
		return ResourceTopicFilter
	case "iot:Publish", "iot:RetainPublish", "iot:Receive", "iot:GetRetainedMessage":
		return ResourceTopic
	case "iot:ListRetainedMessages", "iot:ListNamedShadowsForThing":
		return ""
	case "iot:AssumeRoleWithCertificate":
		return ResourceRoleAlias
	default:
		return ResourceThing
	}
}
