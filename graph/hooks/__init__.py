"""What providers post back to Clarion (Twilio's status callbacks and inbound messages)."""
