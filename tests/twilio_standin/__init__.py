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
then stored as failed with 63016, as WhatsApp does. Status is queued (accepted with a
Messaging Service); the StatusCallback URL is stored for the next issue's callbacks.

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
- `POST /_standin/messages/{Sid}/status` `{"status": "delivered", "error_code": null}`:
  what a fetch of the message reads from then on (no callback is sent).
- `PUT /_standin/contents/{ContentSid}/approval_plan` (same body): one content's plan,
  e.g. `{"status": "paused", "rejection_reason": "QUALITY_LOW"}` mid-campaign.

Tests start it with `tests.twilio_standin.fixture` (its own process, a free port) and talk to
it through `tests.twilio_standin.client.StandinHttpClient`.
"""
