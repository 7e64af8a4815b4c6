"""elasticc-stream: replay ELAsTiCC alerts into Kafka and watch them arrive."""

__version__ = "0.1.0"
