"""Email: SMTP transport, MIME messages and Jinja2 rendering within a budget."""
