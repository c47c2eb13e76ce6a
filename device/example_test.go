package device_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"time"

	"github.com/thingcore/thingcore/device"
)

// Connect with the folder `thingcore thing create my-device` wrote, and
// report a temperature to the thing's shadow.
func Example() {
	ctx := context.Background()
	cfg, err := device.LoadFolder("my-device")
	if err != nil {
		log.Fatal(err)
	}
	c, err := device.New(cfg, slog.Default())
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close(context.Background())
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := c.Connect(cctx); err != nil {
		log.Fatal(err)
	}
	sh, err := c.OpenShadow(cctx, "")
	if err != nil {
		log.Fatal(err)
	}
	doc, err := sh.UpdateReported(cctx, map[string]any{"temperature": 21.5})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("shadow version", doc.Version)
}

// Connect to AWS IoT Core with the files the console gave, over MQTT 3.1.1.
func ExampleNew_awsIoTCore() {
	c, err := device.New(device.Config{
		Endpoint: "abc123example-ats.iot.eu-west-1.amazonaws.com:8883",
		ClientID: "my-device",
		CertFile: "certificate.pem.crt",
		KeyFile:  "private.pem.key",
		CAFile:   "AmazonRootCA1.pem",
		Protocol: device.MQTT311,
	}, slog.Default())
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close(context.Background())
	if err := c.Connect(context.Background()); err != nil {
		log.Fatal(err)
	}
}

func ExampleClient_Subscribe() {
	var c *device.Client // from device.New, connected
	ctx := context.Background()
	err := c.Subscribe(ctx, "things/my-device/commands/+", device.AtLeastOnce, func(m device.Message) {
		fmt.Printf("%s: %s\n", m.Topic, m.Payload)
	})
	if err != nil {
		log.Fatal(err)
	}
}

// Publish while offline queues the message; a full queue is an error.
func ExampleClient_Publish() {
	var c *device.Client // from device.New
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := c.Publish(ctx, device.Message{Topic: "things/my-device/telemetry", Payload: []byte(`{"t":21.5}`), QoS: device.AtLeastOnce})
	if errors.Is(err, device.ErrQueueFull) {
		log.Print("offline for too long: dropping telemetry")
	} else if err != nil {
		log.Fatal(err)
	}
}

// Apply desired state from deltas and report it back.
func ExampleOnDelta() {
	var c *device.Client // from device.New, connected
	ctx := context.Background()
	var sh *device.Shadow
	sh, err := c.OpenShadow(ctx, "", device.OnDelta(func(d device.Delta) {
		var desired map[string]any
		if err := json.Unmarshal(d.State, &desired); err != nil {
			return
		}
		// ... apply desired to the device, then:
		rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		if _, err := sh.UpdateReported(rctx, desired); err != nil {
			log.Print(err)
		}
	}))
	if err != nil {
		log.Fatal(err)
	}
}

// A named shadow, updated only if no one else changed it since it was read.
func ExampleShadow_Update() {
	var c *device.Client // from device.New, connected
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	sh, err := c.OpenShadow(ctx, "my-device", device.ShadowName("config"))
	if err != nil {
		log.Fatal(err)
	}
	doc, err := sh.Get(ctx)
	if errors.Is(err, device.ErrShadowNotFound) {
		doc = &device.Document{} // version 0: unconditional
	} else if err != nil {
		log.Fatal(err)
	}
	_, err = sh.Update(ctx, device.StateUpdate{Desired: map[string]any{"interval": 10}, Version: doc.Version})
	var se *device.ShadowError
	switch {
	case errors.Is(err, device.ErrVersionConflict):
		log.Print("changed meanwhile: read it again")
	case errors.As(err, &se):
		log.Printf("rejected: %d %s", se.Code, se.Message)
	case err != nil:
		log.Fatal(err)
	}
}
