"""Stand-in for micropython-lib's umqtt package (see umqtt/simple.py)."""
