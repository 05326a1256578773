"""Signed webhooks (Standard Webhooks 1.0): endpoints per account, deliveries with retries, an SSRF guard.

models.py (registered by the generations app), secrets.py (signing secrets, encrypted at rest),
targets.py (which URLs may be called), services.py (writes), delivery.py (one attempt),
tasks.py (the Celery side, on the `webhooks` queue), receivers.py (generation_finished → deliveries).
"""
