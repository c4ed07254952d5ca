"""Secure-default resource builders: encryption, logging, retention and access blocks built in."""
