"""alertbridge: monitoring and CI webhooks to WhatsApp, through the Blueticks API."""

__version__ = "0.1.0"
