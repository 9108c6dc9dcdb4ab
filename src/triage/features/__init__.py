"""Feature views: pure functions from the events table to windows, sessions and signatures."""
