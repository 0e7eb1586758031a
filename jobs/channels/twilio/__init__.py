"""The Twilio channel family: WhatsApp and SMS through the twilio package."""
