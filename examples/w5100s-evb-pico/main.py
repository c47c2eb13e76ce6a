# thingcore device program for MicroPython boards: the WIZnet W5100S-EVB-Pico
# (Ethernet) and, with NETWORK = "wifi", a Raspberry Pi Pico W or an ESP32.
#
# It connects to a thingcore hub (or AWS IoT Core) over MQTT with TLS, using
# the DER certificate and key in cert/, and keeps the thing's Device Shadow
# up to date:
#   - every INTERVAL seconds it reports temperature, humidity and a counter
#     as a valid shadow document {"state":{"reported":{...}}};
#   - it applies the shadow's desired state (update/delta): "led" ("on"/"off"
#     or true/false) drives the on-board LED, "interval" (seconds) the report
#     period; it then reports what it applied, which clears the delta;
#   - after any error it reconnects, waiting longer each time (up to a minute).
#
# `thingcore thing create NAME --board w5100s-evb-pico` fills in the
# constants below. Upload main.py and the cert/ folder with Thonny.

import gc
import json
import time

import machine
import network
from umqtt.simple import MQTTClient

# --- Settings -----------------------------------------------------------------
ENDPOINT = "192.168.1.10"  # the hub's host name or LAN address (its --server-name)
PORT = 8883                # MQTT over TLS
THING_NAME = "my-pico"     # also the MQTT client id: the default policy requires it
NETWORK = "wiznet"         # "wiznet" (W5100S-EVB-Pico Ethernet) or "wifi" (Pico W, ESP32)
WIFI_SSID = ""             # NETWORK = "wifi" only
WIFI_PASSWORD = ""
LED_PIN = 25               # on-board LED: 25 on the W5100S-EVB-Pico and Pico, "LED" on a Pico W
INTERVAL = 20              # seconds between reports; the shadow's desired "interval" changes it
KEEPALIVE = 60             # seconds; AWS allows at most 1200
CERT_FILE = "cert/certificate.crt.der"
KEY_FILE = "cert/privateKey.key.der"
CA_FILE = ""               # "cert/root-CA.der" to verify the hub (the board's clock must be set)
# -------------------------------------------------------------------------------

SHADOW = "$aws/things/" + THING_NAME + "/shadow/update"
TOPIC_UPDATE = SHADOW.encode()
TOPIC_DELTA = (SHADOW + "/delta").encode()
TOPIC_REJECTED = (SHADOW + "/rejected").encode()

interval = INTERVAL
led_state = "off"
applied = {}  # desired values applied but not yet reported
counter = 0
led = None


def network_up():
    """Brings up Ethernet (W5100S on SPI0) or Wi-Fi and waits for an address."""
    if NETWORK == "wifi":
        nic = network.WLAN(network.STA_IF)
        nic.active(True)
        if not nic.isconnected():
            nic.connect(WIFI_SSID, WIFI_PASSWORD)
    else:
        # W5100S-EVB-Pico: SPI0 at 2 MHz, MOSI GP19, MISO GP16, SCK GP18,
        # chip select GP17, reset GP20.
        spi = machine.SPI(0, 2000000, mosi=machine.Pin(19), miso=machine.Pin(16), sck=machine.Pin(18))
        nic = network.WIZNET5K(spi, machine.Pin(17), machine.Pin(20))
        nic.active(True)
        try:
            nic.ifconfig("dhcp")
        except (OSError, ValueError, TypeError):
            pass  # firmware that runs DHCP by itself
    waited = 0
    while not nic.isconnected():
        if waited % 10 == 0:
            print("waiting for the network (cable plugged in? Wi-Fi name and password?)")
        time.sleep(1)
        waited += 1
    print("network up:", nic.ifconfig())
    return nic


def read_file(name):
    with open(name, "rb") as f:
        return f.read()


def new_client(cert, key, ca):
    """Returns an MQTT client for umqtt.simple before 1.4 (ssl=True with
    ssl_params) or from 1.4 on (ssl=an SSLContext)."""
    params = {"key": key, "cert": cert, "server_hostname": ENDPOINT}
    if ca:
        import ssl
        params["cert_reqs"] = ssl.CERT_REQUIRED
        params["cadata"] = ca
    try:
        return MQTTClient(THING_NAME, ENDPOINT, port=PORT, keepalive=KEEPALIVE,
                          ssl=True, ssl_params=params)
    except TypeError:  # umqtt.simple 1.4 and later have no ssl_params
        pass
    import ssl
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if ca:
        ctx.verify_mode = ssl.CERT_REQUIRED
        ctx.load_verify_locations(cadata=ca)
    else:
        ctx.verify_mode = ssl.CERT_NONE
    ctx.load_cert_chain(cert, key)
    return MQTTClient(THING_NAME, ENDPOINT, port=PORT, keepalive=KEEPALIVE, ssl=ctx)


def set_led(value):
    global led_state
    led_state = "on" if value in ("on", True, 1) else "off"
    if led:
        led.value(1 if led_state == "on" else 0)


def on_message(topic, msg):
    """Applies a delta's led and interval; reports happen in the main loop,
    never inside the callback."""
    global interval
    if topic == TOPIC_REJECTED:
        print("the hub rejected a shadow update:", msg)
        return
    try:
        delta = json.loads(msg).get("state") or {}
    except ValueError:
        print("bad delta:", msg)
        return
    print("desired:", delta)
    if "led" in delta and delta["led"] in ("on", "off", True, False):
        set_led(delta["led"])
        applied["led"] = delta["led"]  # echo the desired value, so the delta clears
    v = delta.get("interval")
    if type(v) is int and 1 <= v <= 86400:
        interval = v
        applied["interval"] = v
    # Other keys stay in the delta: this program does not know them.


def temperature():
    """The RP2040's own temperature sensor (ADC 4), in degrees Celsius."""
    try:
        volts = machine.ADC(4).read_u16() * 3.3 / 65535
        return round(27 - (volts - 0.706) / 0.001721, 1)
    except Exception:
        return 20.0  # a board without that sensor


def humidity():
    """Simulated, as the board has no humidity sensor: 40.0 to 50.0 %."""
    return 40 + (time.ticks_ms() % 101) / 10


def publish(client, reported):
    doc = json.dumps({"state": {"reported": reported}})
    client.publish(TOPIC_UPDATE, doc.encode())
    print("reported", doc)


def run(client):
    """Connects, subscribes and reports until an error; returns nothing."""
    global counter, backoff, connected
    client.set_callback(on_message)
    client.connect()
    print("connected to", ENDPOINT, "as", THING_NAME)
    connected = True
    backoff = 1
    client.subscribe(TOPIC_DELTA)
    client.subscribe(TOPIC_REJECTED)
    # The first report carries the applied state too; the hub answers with a
    # delta if the desired state changed while the board was offline.
    applied.clear()
    publish(client, {"temperature": temperature(), "humidity": humidity(), "counter": counter,
                     "led": led_state, "interval": interval})
    now = time.ticks_ms()
    next_report = time.ticks_add(now, interval * 1000)
    last_sent = now
    while True:
        client.check_msg()
        now = time.ticks_ms()
        if applied:
            publish(client, applied)
            applied.clear()
            next_report = time.ticks_add(now, interval * 1000)
            last_sent = now
        elif time.ticks_diff(now, next_report) >= 0:
            counter += 1
            publish(client, {"temperature": temperature(), "humidity": humidity(), "counter": counter})
            next_report = time.ticks_add(now, interval * 1000)
            last_sent = now
        elif time.ticks_diff(now, last_sent) >= KEEPALIVE * 500:
            client.ping()  # umqtt.simple does not keep the connection alive by itself
            last_sent = now
        gc.collect()
        time.sleep_ms(100)


backoff = 1  # seconds before the next connection attempt
connected = False  # whether the current attempt got as far as CONNACK


def main():
    global led, backoff, connected
    try:
        led = machine.Pin(LED_PIN, machine.Pin.OUT)
    except (ValueError, TypeError):
        print("no LED on pin", LED_PIN)
    set_led("off")
    nic = network_up()
    cert = read_file(CERT_FILE)
    key = read_file(KEY_FILE)
    ca = read_file(CA_FILE) if CA_FILE else None
    gc.collect()
    while True:
        client = None
        connected = False
        try:
            client = new_client(cert, key, ca)
            run(client)
        except OSError as e:
            print("connection lost:" if connected else "cannot connect:", e)
        except Exception as e:
            print("error:", repr(e))
        if not connected:
            print("on the hub machine, `thingcore doctor DIR` (DIR: this thing's folder) says why")
        if client and client.sock:
            try:
                client.sock.close()
            except OSError:
                pass
        client = None
        gc.collect()
        print("reconnecting in", backoff, "s")
        time.sleep(backoff)
        backoff = min(backoff * 2, 60)
        if not nic.isconnected():
            nic = network_up()


main()
