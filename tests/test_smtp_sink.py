"""The SMTP sink the sending tests rely on: it receives, refuses, fails and goes away on cue."""

import asyncio

import aiosmtplib
import pytest

from tests.smtp_sink import SinkProcess, SmtpSink, max_in_window

# Runs no Clarion server or database of the run's choosing: the PostgreSQL pass skips it.
pytestmark = pytest.mark.database_independent

SENDER = "news@acme.test"
RAW = b"From: news@acme.test\r\nTo: ann@example.com\r\nSubject: Hi \xc3\xa9\r\n\r\nHello\r\n"


def smtp_client(sink: SmtpSink | SinkProcess) -> aiosmtplib.SMTP:
    return aiosmtplib.SMTP(hostname=sink.host, port=sink.port, timeout=5)


async def test_receives_message_with_envelope_and_bytes(smtp_sink: SmtpSink) -> None:
    async with smtp_client(smtp_sink) as smtp:
        errors, reply = await smtp.sendmail(SENDER, ["ann@example.com", "Bob@Example.com"], RAW)

    assert errors == {}
    assert reply == "OK"
    [received] = smtp_sink.messages
    assert received.mail_from == SENDER
    assert received.rcpt_tos == ["ann@example.com", "Bob@Example.com"]
    assert received.data == RAW
    assert received.message()["Subject"] == "Hi é"
    assert smtp_sink.count_for("bob@example.com") == 1
    assert smtp_sink.recipients() == {"ann@example.com": 1, "bob@example.com": 1}


async def test_recipient_refused_450_once_then_accepted(smtp_sink: SmtpSink) -> None:
    smtp_sink.fail_recipient("Ann@example.com", 450, "4.2.1 Mailbox busy", times=1)
    async with smtp_client(smtp_sink) as smtp:
        # One of two refused: aiosmtplib reports it and still sends DATA to the other.
        errors, _ = await smtp.sendmail(SENDER, ["ann@example.com", "bob@example.com"], RAW)
        assert errors == {"ann@example.com": (450, "4.2.1 Mailbox busy")}
        assert smtp_sink.recipients() == {"bob@example.com": 1}

        errors, _ = await smtp.sendmail(SENDER, ["ann@example.com"], RAW)
        assert errors == {}
    assert smtp_sink.count_for("ann@example.com") == 1


async def test_recipient_refused_550_always(smtp_sink: SmtpSink) -> None:
    smtp_sink.fail_recipient("ann@example.com", 550, "5.1.1 No such user")
    async with smtp_client(smtp_sink) as smtp:
        for _ in range(2):
            # All refused: raised, no DATA sent, and the client RSETs the envelope.
            with pytest.raises(aiosmtplib.SMTPRecipientsRefused) as refused:
                await smtp.sendmail(SENDER, ["ann@example.com"], RAW)
            [error] = refused.value.recipients
            assert (error.code, error.message) == (550, "5.1.1 No such user")
        # The same connection is still usable for others.
        await smtp.sendmail(SENDER, ["bob@example.com"], RAW)
    assert smtp_sink.recipients() == {"bob@example.com": 1}


async def test_data_failure_then_accepted(smtp_sink: SmtpSink) -> None:
    smtp_sink.fail_data(451, "4.3.0 Queue full", times=1)
    async with smtp_client(smtp_sink) as smtp:
        with pytest.raises(aiosmtplib.SMTPDataError) as failed:
            await smtp.sendmail(SENDER, ["ann@example.com"], RAW)
        assert failed.value.code == 451
        assert smtp_sink.messages == []
        await smtp.sendmail(SENDER, ["ann@example.com"], RAW)
    assert len(smtp_sink.messages) == 1


async def test_down_refuses_and_drops_connections_up_restores_same_port(
    smtp_sink: SmtpSink,
) -> None:
    port = smtp_sink.port
    smtp = smtp_client(smtp_sink)
    await smtp.connect()

    smtp_sink.down()
    with pytest.raises(aiosmtplib.SMTPServerDisconnected):
        await smtp.sendmail(SENDER, ["ann@example.com"], RAW)
    with pytest.raises(aiosmtplib.SMTPConnectError):
        await smtp_client(smtp_sink).connect()

    smtp_sink.up()
    assert smtp_sink.port == port
    async with smtp_client(smtp_sink) as fresh:
        await fresh.sendmail(SENDER, ["ann@example.com"], RAW)
    assert await smtp_sink.wait_for(1, timeout=1)


def test_stop_and_start_again_on_same_port() -> None:
    with SmtpSink() as sink:
        port = sink.port
        sink.stop()
        sink.start()
        assert sink.port == port


def test_max_in_window() -> None:
    assert max_in_window([]) == 0
    assert max_in_window([5.0]) == 1
    # Half-open: 0.0 and 1.0 are not in one window of 1 s; 0.5, 0.9, 1.0, 1.4 are.
    assert max_in_window([1.4, 0.0, 0.5, 1.0, 0.9, 3.0]) == 4
    assert max_in_window([0.0, 1.0, 2.0, 3.0]) == 1
    assert max_in_window([0.0, 0.1, 0.2, 5.0], window=0.15) == 2


async def test_sink_process_counts_messages_from_parallel_connections() -> None:
    with SinkProcess() as sink:
        assert (sink.count, sink.first_at, sink.last_at) == (0, None, None)

        async def send(n: int) -> None:
            async with smtp_client(sink) as smtp:
                for _ in range(n):
                    await smtp.sendmail(SENDER, ["ann@example.com"], RAW)

        await asyncio.gather(*(send(250) for _ in range(4)))

        assert await sink.wait_for(1000, timeout=5)
        assert sink.count == 1000
        first, last = sink.first_at, sink.last_at
        assert first is not None
        assert last is not None
        assert first <= last


async def test_sink_process_finds_end_of_data_however_it_arrives() -> None:
    # Its DATA reads in chunks; a missed or early end would desynchronise the session.
    bodies = [
        b"\r\n",
        b".\r\n..\r\n.x\r\n",
        b"x.\r\n\r\n.\r\n" * 3,
        b"line\r\n" * 500_000,  # 3.5 MB: more than the reader's limit
        b"a" * 998 + b"\r\n.\r\n",
    ]
    with SinkProcess() as sink:
        async with smtp_client(sink) as smtp:
            for n, body in enumerate(bodies, 1):
                await smtp.sendmail(SENDER, ["ann@example.com"], RAW + body)
                assert sink.count == n
