"""Channel families behind one seam: the send engine (jobs/send.py) is channel-neutral;
each family (email, twilio) implements `jobs.channels.base.Transport` in a package of its
own and is found through `jobs.channels.registry`."""
