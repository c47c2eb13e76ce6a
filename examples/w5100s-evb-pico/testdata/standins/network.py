"""Stand-in for MicroPython's network module: a WIZNET5K that checks the
W5100S-EVB-Pico's wiring, and a WLAN; both are up at once with 127.0.0.1."""

import standin

STA_IF = 0
AP_IF = 1


class _NIC:
    def __init__(self):
        self._active = False

    def active(self, on=None):
        if on is None:
            return self._active
        self._active = bool(on)

    def isconnected(self):
        return self._active

    def ifconfig(self, config=None):
        if config is None:
            return ("127.0.0.1", "255.0.0.0", "127.0.0.1", "127.0.0.1")
        standin.log("ifconfig(%r)" % (config,))


class WIZNET5K(_NIC):
    # The board's wiring: SPI0 (MOSI GP19, MISO GP16, SCK GP18), CS GP17, RST GP20.
    def __init__(self, spi, cs, rst):
        super().__init__()
        got = (spi.id, spi.mosi.id, spi.miso.id, spi.sck.id, cs.id, rst.id)
        if got != (0, 19, 16, 18, 17, 20):
            raise OSError("standin: W5100S wired as (spi, mosi, miso, sck, cs, rst) = %r, the board has (0, 19, 16, 18, 17, 20)" % (got,))
        standin.log("WIZNET5K on SPI%d at %d Hz" % (spi.id, spi.baudrate))


class WLAN(_NIC):
    def __init__(self, interface=STA_IF):
        super().__init__()

    def isconnected(self):
        return self._active and getattr(self, "_ssid", None) is not None

    def connect(self, ssid=None, key=None):
        self._ssid = ssid
        standin.log("WLAN.connect(%r)" % (ssid,))
