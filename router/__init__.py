"""Call router for Asterisk (ARI): routes calls to a phone line by its schedule."""
