"""Twilio (WhatsApp and SMS): content rules, the HTTP client, error classes, transport."""
