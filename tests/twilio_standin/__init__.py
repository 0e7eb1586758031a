"""A local stand-in for the parts of Twilio's REST API that Clarion uses.

Run it: `python -m tests.twilio_standin --port 8765 [--host 127.0.0.1]` prints the base URL
and a sample account (SID, auth token, senders +15005550006 and whatsapp:+14155238886, a
Messaging Service SID). Point a Twilio channel's `apiBaseUrl` at the base URL: the client
sends both `https://api.twilio.com/...` and `https://content.twilio.com/...` there.

Served (paths as Twilio's; every request checked against Twilio's OpenAPI descriptions, the
trimmed copies in `oai/` made by `trim_oai.py`; HTTP Basic auth AccountSid:AuthToken or
API key SK…:secret, else 401 code 20003):
- `POST/GET /2010-04-01/Accounts/{AccountSid}/Messages.json`, `GET …/Messages/{Sid}.json`
  (list filters To, From, DateSent, DateSent<, DateSent>; PageSize; cursor PageToken).
- `POST/GET /v1/Content`, `GET /v1/Content/{Sid}`,
  `POST /v1/Content/{Sid}/ApprovalRequests/whatsapp`, `GET /v1/Content/{Sid}/ApprovalRequests`.

Twilio's rules it applies on create: 21211 bad To, 21604 no To, 21603 neither From nor
MessagingServiceSid, 21606 (SMS) / 63007 (WhatsApp) From not the account's, 21701 unknown
Messaging Service, 21910 From and To on different channels, 21602 no Body/ContentSid/MediaUrl,
21617 Body over 1,600, 21655 unknown ContentSid, 21656 ContentVariables not a JSON object of
strings or a used variable empty. A WhatsApp message that is freeform (a Body) or uses a
template not approved, to an address whose 24-hour window is closed, is accepted (201) and
then stored as failed with 63016, as WhatsApp does. An SMS to a number that texted STOP
(see inbound below) answers 21610 until it texts START. Status is queued (accepted with a
Messaging Service).

Status callbacks (callbacks.py): every message created with a StatusCallback URL then moves
through Twilio's statuses, one step every `delay` (default 50-200 ms, random), and each step
is POSTed (form-encoded) to that URL, signed as Twilio signs (X-Twilio-Signature: base64
HMAC-SHA1 with the account's auth token over the exact URL, query string included, plus the
sorted parameters; `twilio.request_validator.RequestValidator` checks it). No callback for
the initial status. WhatsApp: sent, delivered (EventType=DELIVERED), read (EventType=READ),
with ChannelPrefix=whatsapp, ChannelInstallSid, ChannelToAddress, StructuredMessage. SMS:
sent, delivered (RawDlrDoneDate, YYMMDDhhmm). Failing: sent then undelivered, or failed
alone, with ErrorCode (WhatsApp adds ChannelStatusMessage); a freeform WhatsApp message
outside the window calls back failed 63016. Every callback: MessageSid, SmsSid,
MessageStatus, SmsStatus, AccountSid, From (a Messaging Service's: the account's first
sender of the channel), To, ApiVersion, MessagingServiceSid when one was used. A fetch or
list reads the status the steps reached, even when a callback was dropped or is late.
A receiver answering non-2xx, or not within `timeout_seconds` (15), is tried once more
after `retry_delay_seconds` (1); never more. At most `--callback-concurrency` (256) posts
are in flight.

Control API (JSON, no auth, under `/_standin`; `{A}` = `/_standin/accounts/{AccountSid}`):
- `GET /_standin/health` → `{"ok": true, "sample_account_sid": …}`
- `POST /_standin/reset` → only the sample account remains, emptied.
- `POST /_standin/accounts` `{"account_sid"?, "auth_token"?, "senders"?: ["+1…",
  "whatsapp:+1…"], "messaging_service_sids"?: ["MG…"]}` → 201 the account with its token.
- `GET {A}`; `POST {A}/api_keys` → 201 `{"sid": "SK…", "secret": …}`; `POST {A}/reset`.
- `GET {A}/messages[?to=whatsapp:+1…]` → `{"messages": [Twilio's resource + "standin":
  {content_sid, content_variables, status_callback, answered, received_at}]}`, oldest
  first (`received_at`: when the create came in, Unix time to the microsecond).
- `GET {A}/counts` → `{"total": 3, "by_to": {"whatsapp:+15551230001": 1, …}}`.
- `POST {A}/number_errors` `{"number": "+15005550001", "error": 21211}`: creates to that
  number (either channel) answer that error; `"error": null` clears. Codes: errors.KNOWN
  (21211, 21610, 21614, 21408, 63018, 20003, …).
- `POST {A}/account_error` `{"error": 20003}` (or 21408, 63018, …; null clears): every
  create of the account answers it.
- `POST {A}/throttle` `{"count": 5}`: the next 5 creates answer 429 code 20429 (nothing made).
- `POST {A}/server_errors` `{"count": 1, "status": 500, "create": true}`: the next create
  makes and stores the message, then answers 500 code 20500 (the unknown outcome);
  `"create": false` answers before anything is made.
- `POST {A}/delay` `{"seconds": 2.5, "count": 1}`: the next create makes the message, then
  sleeps before answering (count null: every create until set to 0 seconds).
- `POST {A}/odd_sids` `{"count": 1, "sid": "SMnot-a-sid"}`: the next creates make and store
  the message, then answer with `sid` in place of its sid (a broken or hostile API).
- `POST {A}/windows` `{"number": "whatsapp:+1…", "open": true}`: freeform allowed there.
- `PUT {A}/approval_plan` `{"status": "approved"|"rejected"|"paused"|"disabled",
  "rejection_reason": "…", "after_fetches": 2}`: the account's default plan for WhatsApp
  approval requests (default: approved after 2 fetches). After submission the first fetch
  reads received, later ones pending, and fetch after_fetches + 1 on the outcome (0: at once).
- `PUT /_standin/contents/{ContentSid}/approval_plan` (same body): one content's plan,
  e.g. `{"status": "paused", "rejection_reason": "QUALITY_LOW"}` mid-campaign.
- `PUT {A}/callback_plan` (only the fields given change; `GET` reads it) `{"enabled": true,
  "delay": [0.05, 0.2], "duplicate": 0, "out_of_order": 0, "late_seconds": 0, "drop": 0,
  "final": null, "error_code": null, "retry_delay_seconds": 1, "timeout_seconds": 15,
  "paused": false}`: `paused: true` holds every lifecycle step (no status moves, nothing
  posted) until `paused: false` lets all that fell due go at once (a burst);
  `enabled: false` = no lifecycle at all (the status stays queued; a benchmark's baseline);
  duplicate / out_of_order / drop are probabilities 0..1 (or true/false): each callback
  posted twice; the message's callbacks posted last step first once it reached its last;
  each callback never posted (recorded as dropped; the status still advances).
  `late_seconds`: each callback posted that long after its status changed. `final`:
  the last status (sent, delivered, read, undelivered, failed; default read for WhatsApp,
  delivered for SMS), `error_code` with undelivered (default 30003) or failed (30008).
  `reply_every` (default 0: none), `reply_url`, `reply_body` (default "Yes please"): the
  account's first message and every reply_every-th after it, once at its last status and
  not failed, is answered by its recipient: the body posted, signed as an inbound message,
  to reply_url (the sender's "A message comes in" webhook), quoting it on WhatsApp.
- `POST {A}/callback_numbers` `{"number": "+1…", "final": "undelivered", "error_code":
  30003}` (any plan field but the retry ones; e.g. `{"final": "delivered"}`: read never,
  `{"final": "failed", "error_code": 63016}`): messages to that number (either channel)
  follow these fields over the account's plan; `{"number": …, "clear": true}` drops them.
- `GET /_standin/callbacks[?account_sid=&message_sid=&status=]` → `{"callbacks": [{
  account_sid, message_sid, url, message_status, error_code, attempt (1|2), duplicate,
  dropped, sent_at (Unix), status_code (null: no answer), response_ms, error}], "answers":
  [{account_sid, message_sid, reply_sid, status_code, response_ms, error}] (what the
  plan's reply_every posted), "pending": lifecycles and posts still to run}`, oldest
  first. An account's reset cancels its pending callbacks and forgets its records.
- `POST /_standin/messages/{Sid}/status` `{"status": "delivered", "error_code": null}`: the
  stored status a fetch reads, with no callback (one Twilio never sent).
- `POST {A}/inbound` `{"url": INBOUND_URL, "from": "whatsapp:+1…", "to": "whatsapp:+1…"
  (one of the account's senders), "body"?, "media"?: [{"url", "content_type"}],
  "profile_name"?, "button_payload"?, "button_text"?, "message_type"?, "reply_to"?: "SM…"}`
  → `{"url", "params", "signature", "status_code", "body", "response_ms", "error"}`: posts
  a signed inbound message as Twilio does: MessageSid (SM/MM + 32 hex), SmsSid,
  SmsMessageSid, AccountSid, From, To, Body, NumMedia, MediaUrl{N}, MediaContentType{N},
  NumSegments, SmsStatus=received, ApiVersion; WhatsApp adds WaId, ProfileName,
  MessageType (text, image…, interactive for a button tap); a tap adds ButtonPayload and
  ButtonText; reply_to (WhatsApp only, as Twilio's) adds OriginalRepliedMessageSid and
  OriginalRepliedMessageSender.
  SMS keywords add OptOutType (STOP, STOPALL, UNSUBSCRIBE, CANCEL, END, QUIT, REVOKE,
  OPTOUT → STOP; START, YES, UNSTOP → START; HELP, INFO → HELP), and STOP / START opt the
  number out of / back into the account's sends; a WhatsApp message opens its 24-hour window.
- `POST /_standin/messages/{Sid}/reply` `{"url", "body"?, "button_payload"?, …}`: the
  message's recipient answers it (From = its To, To = its sender; WhatsApp adds
  OriginalRepliedMessageSid, an SMS reply has none, as Twilio's).

From a shell, against a running stand-in (its sample account; `--help` for more):
`python -m tests.twilio_standin inbound --url 'http://127.0.0.1:8000/hooks/twilio/inbound?channel=1'
--from whatsapp:+15551230001 --body "Yes please"` (`--body STOP`, `--button-payload ID
--button-text "Buy"`, `--reply-to SM…` alone answers that message, `--media URL,image/png`).

Tests start it with `tests.twilio_standin.fixture` (its own process, a free port) and talk to
it through `tests.twilio_standin.client.StandinHttpClient`.
"""
