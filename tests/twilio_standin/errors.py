"""Twilio's error answers: `{code, message, more_info, status}` with Twilio's HTTP status."""

from __future__ import annotations

from starlette.responses import JSONResponse

# code → (HTTP status, Twilio's message). Failure injection accepts only these codes.
KNOWN: dict[int, tuple[int, str]] = {
    20001: (400, "Invalid parameter"),
    20003: (401, "Authenticate"),
    20404: (404, "The requested resource was not found"),
    20429: (429, "Too Many Requests"),
    20500: (500, "An internal server error has occurred"),
    21211: (400, "Invalid 'To' Phone Number"),
    21408: (
        400,
        "Permission to send an SMS has not been enabled for the region indicated by the "
        "'To' number",
    ),
    21602: (400, "Message body is required."),
    21603: (400, "A 'From' phone number is required."),
    21604: (400, "A 'To' phone number is required."),
    21606: (
        400,
        "The 'From' phone number provided is not a valid, message-capable Twilio phone number "
        "for this destination.",
    ),
    21610: (400, "Attempt to send to unsubscribed recipient"),
    21611: (400, "This 'From' number has exceeded the maximum number of queued messages"),
    21614: (400, "'To' number is not a valid mobile number"),
    21617: (400, "The concatenated message body exceeds the 1600 character limit."),
    21655: (400, "The ContentSid is Invalid"),
    21656: (400, "The ContentVariables Parameter is invalid"),
    21701: (400, "The Messaging Service Sid is invalid"),
    21910: (400, "Invalid From and To pair. From and To should be of the same channel"),
    30001: (400, "Queue overflow"),
    63007: (400, "Twilio could not find a Channel with the specified From address"),
    63016: (
        400,
        "Failed to send freeform message because you are outside the allowed window. "
        "If you are using WhatsApp, please use a Message Template.",
    ),
    63018: (400, "Rate limit exceeded for Channel"),
}


class TwilioError(Exception):
    """An answer in Twilio's error shape; raised by handlers, rendered by the app."""

    def __init__(self, code: int, message: str | None = None, status: int | None = None):
        known_status, known_message = KNOWN.get(code, (400, "Error"))
        self.code = code
        self.status = status if status is not None else known_status
        self.message = message if message is not None else known_message
        super().__init__(f"{self.code}: {self.message}")

    def response(self) -> JSONResponse:
        headers = {"WWW-Authenticate": 'Basic realm="Twilio API"'} if self.status == 401 else {}
        return JSONResponse(
            {
                "code": self.code,
                "message": self.message,
                "more_info": f"https://www.twilio.com/docs/errors/{self.code}",
                "status": self.status,
            },
            status_code=self.status,
            headers=headers,
        )
