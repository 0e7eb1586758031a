"""How a failed connection reads to people, for every channel family: a few words, naming
no address, port or errno text (clients read it; the full error is the worker's log's)."""

import errno

ERRNO_REASONS = {
    errno.ECONNREFUSED: "connection refused",
    errno.ETIMEDOUT: "timed out",
    errno.EHOSTUNREACH: "host unreachable",
    errno.ENETUNREACH: "network unreachable",
    errno.ECONNRESET: "connection reset",
}
