"""Twilio channel family: WhatsApp and SMS over Twilio's Messages and Content APIs."""
